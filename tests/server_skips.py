"""How many tests were skipped for want of a server, printed last (`make test` loads this plugin
with `-p tests.server_skips`), so that a green run with PostgreSQL or RabbitMQ down is not
mistaken for a pass.

A skip counts when its reason is `require_server`'s (`tests/servers.py`): "<server> does not
answer on <host>:<port>" (pytest reports a skip raised in a fixture at the test, so the reason,
not the place, tells). With
`CRM_SERVER_SKIPS_FILE` set, each run also adds its count and reasons to that file, and
`python -m tests.server_skips FILE` prints the total of the runs (make test runs pytest twice).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

SERVER_DOWN = re.compile(r"^(?:Skipped: )?(?P<reason>\S.* does not answer on \S+:\d+)$")
_skips: Counter[str] = Counter()


def server_skip_reason(report: pytest.TestReport) -> str | None:
    """The reason of a skip for want of a server, or None for any other report."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return None
    match = SERVER_DOWN.match(str(report.longrepr[2]))
    return match["reason"] if match else None


def summary_line(skips: Counter[str]) -> str:
    """`0 tests skipped for want of a server`, or the count and each reason."""
    total = sum(skips.values())
    noun = "test" if total == 1 else "tests"
    line = f"{total} {noun} skipped for want of a server"
    if skips:
        line += ": " + "; ".join(f"{reason} ({count})" for reason, count in sorted(skips.items()))
    return line


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    reason = server_skip_reason(report)
    if reason is not None:
        _skips[reason] += 1


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # After pytest's own closing line; on the controller only (xdist workers send it reports).
    if hasattr(config, "workerinput"):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    line = summary_line(_skips)
    if reporter is not None:
        reporter.write_line(line, yellow=bool(_skips), bold=bool(_skips))
    else:
        print(line)
    if path := os.environ.get("CRM_SERVER_SKIPS_FILE"):
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(dict(_skips)) + "\n")


def aggregate(path: str) -> Counter[str]:
    """The skips of every run recorded in `path` (none if no run wrote it)."""
    total: Counter[str] = Counter()
    if os.path.exists(path):
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                counts: dict[str, Any] = json.loads(line)
                total.update({reason: int(count) for reason, count in counts.items()})
    return total


if __name__ == "__main__":
    print(summary_line(aggregate(sys.argv[1])) + " (all runs)")
