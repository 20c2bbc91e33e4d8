"""An import collects garbage seldom while it runs, and leaves the collector as it found it."""

from __future__ import annotations

import gc

import pytest

from services.customers.imports.checking import COLLECT_EVERY, fewer_collections


def test_the_collector_is_as_it_was_after_an_import_even_a_failed_one() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        assert gc.get_threshold() == COLLECT_EVERY
        assert gc.get_freeze_count() > 0
        raise RuntimeError("the import failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
