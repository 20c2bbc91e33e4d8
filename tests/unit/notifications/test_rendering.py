"""Templates written by staff: sandboxed, capped in CPU time and output, formatted by locale."""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest

from services.notifications.rendering import (
    RenderError,
    RenderLimitExceeded,
    RenderLimits,
    TemplateCache,
    compile_template,
    render,
    unknown_variables,
)

LIMITS = RenderLimits(cpu_seconds=0.05, max_chars=1_000_000)


def _render(source: str, html: bool = False, locale: str = "en", **variables: Any) -> str:
    return render(compile_template(source, html), variables, locale, LIMITS)


@pytest.mark.parametrize(
    "probe",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ self._TemplateReference__context }}",
        "{{ customer.update({'x': 1}) }}",
        "{{ '%s' % customer }}",
        "{{ lipsum.__globals__ }}",
        "{{ config }}",
        "{{ request }}",
    ],
)
def test_sandbox_escapes_are_refused(probe: str) -> None:
    with pytest.raises(RenderError):
        _render(probe, customer={"name": "Ada"})


@pytest.mark.parametrize(
    "forever",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% set s = 'x' * 500000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    ],
)
def test_a_template_that_loops_forever_is_stopped_by_the_cpu_limit(forever: str) -> None:
    with pytest.raises(RenderLimitExceeded):
        _render(forever)


@pytest.mark.parametrize(
    "huge",
    [
        "{{ 'x' * 100000000 }}",
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
        "{{ 'x' | truncate(1000000000) }}{{ 'y' * 2000000 }}",
        "{{ 9 ** 99999 }}",
    ],
)
def test_a_template_that_renders_megabytes_is_stopped_by_the_size_limit(huge: str) -> None:
    with pytest.raises(RenderLimitExceeded):
        _render(huge)


def test_html_bodies_are_autoescaped_and_text_bodies_are_not() -> None:
    assert _render("<p>{{ name }}</p>", html=True, name="<b>Ada</b>") == (
        "<p>&lt;b&gt;Ada&lt;/b&gt;</p>"
    )
    assert _render("{{ name }}", name="<b>Ada</b>") == "<b>Ada</b>"


def test_dates_and_money_are_written_for_the_locale() -> None:
    source = "{{ when|date }} {{ amount|money('EUR') }}"
    variables = {"when": "2026-03-05T10:00:00Z", "amount": "1234.50"}
    compiled = compile_template(source)
    assert render(compiled, variables, "fr_BE", LIMITS) == "5 mars 2026 1\u202f234,50\xa0€"
    assert render(compiled, variables, "en", LIMITS) == "March 5, 2026 €1,234.50"
    assert render(compiled, variables, "it", LIMITS) == "5 marzo 2026 1.234,50\xa0€"


def test_an_unknown_variable_is_an_error_naming_its_line() -> None:
    with pytest.raises(RenderError) as refused:
        _render("Hello\n{{ nobody }}")
    assert refused.value.line == 2
    assert unknown_variables("a\n\n{{ x }}{% for i in items %}{{ i }}{% endfor %}", {"items"}) == [
        ("x", 3)
    ]


def test_a_syntax_error_names_its_line() -> None:
    with pytest.raises(RenderError) as refused:
        compile_template("one\ntwo\n{% if %}")
    assert refused.value.line == 3


def test_a_template_is_compiled_once_per_version() -> None:
    cache = TemplateCache()
    first = cache.get(("k", "en", 1, "subject"), "Hi {{ x }}", html=False)
    assert cache.get(("k", "en", 1, "subject"), "ignored", html=False) is first
    assert cache.get(("k", "en", 2, "subject"), "Hi {{ x }}", html=False) is not first


def test_a_template_reading_no_variable_is_rendered_once_per_locale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import services.notifications.rendering as rendering

    calls: list[str] = []

    def counted(template: Any, variables: Any, locale: str, limits: RenderLimits) -> str:
        calls.append(locale)
        return render(template, variables, locale, limits)

    monkeypatch.setattr(rendering, "render", counted)
    cache = TemplateCache()
    subject = ("k", "fr", 1, "subject")
    source = "{{ '2026-01-02' | date }} {% for n in range(2) %}{{ n }}{% endfor %}"
    texts = {cache.render(subject, source, False, {"x": n}, "fr", LIMITS) for n in range(3)}
    assert texts == {"2 janvier 2026 01"} and calls == ["fr"]
    assert cache.render(subject, source, False, {}, "en", LIMITS) == "January 2, 2026 01"
    body = ("k", "fr", 1, "body_text")
    outputs = [cache.render(body, "Hi {{ x }}", False, {"x": n}, "fr", LIMITS) for n in range(3)]
    assert outputs == ["Hi 0", "Hi 1", "Hi 2"] and len(calls) == 5


def test_a_constant_template_past_the_limits_fails_every_time() -> None:
    cache = TemplateCache()
    identity = ("k", "en", 1, "subject")
    source = "{% for n in range(300) %}{{ 'x' * 10 }}{% endfor %}"
    for _ in range(2):
        with pytest.raises(RenderLimitExceeded):
            cache.render(identity, source, False, {}, "en", RenderLimits(max_chars=1_000))


class _Collecting:
    """A value whose rendering runs a full garbage collection over many live objects, as the
    interpreter may do in the middle of any render of a busy worker."""

    def __init__(self) -> None:
        self.garbage = [[n] for n in range(400_000)]

    def __str__(self) -> str:
        started = time.thread_time()
        gc.collect()
        self.seconds = time.thread_time() - started
        return "collected"


def test_the_cpu_limit_does_not_count_a_garbage_collection_the_render_happened_to_run() -> None:
    value = _Collecting()
    limits = RenderLimits(cpu_seconds=0.002, max_chars=1_000)
    assert render(compile_template("{{ value }}"), {"value": value}, "en", limits) == "collected"
    assert value.seconds > limits.cpu_seconds  # the collection alone was past the limit
