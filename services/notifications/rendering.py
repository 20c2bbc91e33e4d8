"""Templates written by staff, rendered safely: Jinja2's immutable sandbox, limits, Babel.

A template reaches no Python internals (`''.__class__` is refused), cannot change what it is
given, and each render is capped in CPU time (`RenderLimits.cpu_seconds`) and output size
(`RenderLimits.max_chars`). The caps are checked at every step a template can repeat or grow:
each loop iteration (every `for` iterates through `_budget`), call, attribute or item lookup,
filter, arithmetic operator and output chunk; `*`, `**` and `%` refuse results past the size
cap before computing them. HTML bodies are autoescaped. Templates are compiled once per
version (`TemplateCache`), not per email.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from services.notifications.languages import babel_locale


@dataclass(frozen=True)
class RenderLimits:
    """What one render may cost."""

    cpu_seconds: float = 0.05
    max_chars: int = 1_000_000


class RenderError(Exception):
    """A template could not be rendered; `line` is its line when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line

    def __str__(self) -> str:
        text = super().__str__()
        return f"line {self.line}: {text}" if self.line else text


class RenderLimitExceeded(RenderError):
    """The render went past its CPU time or output size."""


class _Budget:
    def __init__(self, limits: RenderLimits, locale: Locale) -> None:
        self.limits = limits
        self.deadline = time.thread_time() + limits.cpu_seconds
        self.locale = locale
        self.collecting_since: float | None = None

    def check(self) -> None:
        if time.thread_time() > self.deadline:
            raise RenderLimitExceeded(
                f"the template took more than {self.limits.cpu_seconds * 1000:.0f} ms to render"
            )

    def check_size(self, size: int) -> None:
        if size > self.limits.max_chars:
            raise RenderLimitExceeded(
                f"the template renders more than {self.limits.max_chars} characters"
            )


_state = threading.local()
# What a template may use outside a render (compiling, constant folding): nothing costly.
_IDLE_BUDGET = _Budget(RenderLimits(), Locale.parse("en"))


def _not_counting_garbage_collection(phase: str, info: dict[str, Any]) -> None:
    """The interpreter's garbage collection runs in whichever thread allocates when it is due:
    its time, which a loaded worker's full collection can stretch past the whole limit, is
    not the template's, so the render's deadline moves by it."""
    budget: _Budget | None = getattr(_state, "budget", None)
    if budget is None:
        return
    if phase == "start":
        budget.collecting_since = time.thread_time()
    elif budget.collecting_since is not None:
        budget.deadline += time.thread_time() - budget.collecting_since
        budget.collecting_since = None


gc.callbacks.append(_not_counting_garbage_collection)


def _budget() -> _Budget:
    budget: _Budget | None = getattr(_state, "budget", None)
    return budget if budget is not None else _IDLE_BUDGET


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


def _iterate(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _budget()
    for n, item in enumerate(iterable):
        if n % 64 == 0:
            budget.check()
        yield item


def _guarded_filter(filter_function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(filter_function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.check()
        for argument in (*args, *kwargs.values()):
            if isinstance(argument, int) and not isinstance(argument, bool):
                budget.check_size(abs(argument))  # widths and counts (`center(10**9)`)
        result = filter_function(*args, **kwargs)
        budget.check_size(_sized(result))
        return result

    return guarded


def _format_date(value: Any, format: str = "long") -> str:
    moment = _as_datetime(value)
    if isinstance(moment, datetime):
        return format_date(moment.date(), format=format, locale=_budget().locale)
    return format_date(moment, format=format, locale=_budget().locale)


def _format_datetime(value: Any, format: str = "medium") -> str:
    moment = _as_datetime(value)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return format_datetime(moment, format=format, locale=_budget().locale)


def _format_money(amount: Any, currency: str | None = None) -> str:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise RenderError(f"{amount!r} is not an amount") from None
    if currency:
        return format_currency(value, currency, locale=_budget().locale)
    return format_decimal(value, locale=_budget().locale)


def _as_datetime(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise RenderError(f"{value!r} is not a date") from None
    raise RenderError(f"{value!r} is not a date")


_FILTERS = {
    # Jinja's own filters that staff need; the others (pprint, xmlattr, urlize...) are left out.
    "abs", "capitalize", "default", "d", "e", "escape", "first", "float", "int", "join",
    "last", "length", "count", "lower", "replace", "round", "safe", "striptags", "title",
    "trim", "truncate", "upper", "urlencode", "wordcount", "list", "sort", "unique",
}  # fmt: skip
_OPERATORS = {"*", "**", "%", "+", "//", "/"}


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every repeating or growing step checked against the budget."""

    intercepted_binops = frozenset(_OPERATORS)

    def __init__(self, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            auto_reload=False,
            cache_size=0,
        )
        self.filters = {
            name: _guarded_filter(function)
            for name, function in self.filters.items()
            if name in _FILTERS
        }
        self.filters.update(
            {
                "date": _guarded_filter(_format_date),
                "datetime": _guarded_filter(_format_datetime),
                "money": _guarded_filter(_format_money),
                "_budget": _iterate,
            }
        )
        self.globals = {"range": self.globals["range"]}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_budget", [], [], None, None, lineno=loop.lineno)
        return tree

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.check()
        result = super().call(__context, __obj, *args, **kwargs)
        budget.check_size(_sized(result))
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.check()
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise RenderLimitExceeded("exponents above 64 are not allowed in templates")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if _sized(sequence) and isinstance(times, int):
                    budget.check_size(_sized(sequence) * times)
        if operator == "%" and isinstance(left, str):
            raise SecurityError("the % formatting operator is not allowed; use the filters")
        result = super().call_binop(context, operator, left, right)
        budget.check_size(_sized(result))
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        _budget().check()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _budget().check()
        return super().getitem(obj, argument)


TEXT = _Sandbox(autoescape=False)
HTML = _Sandbox(autoescape=True)


def compile_template(source: str, html: bool = False) -> Any:
    """A compiled template; RenderError with the line on a syntax error."""
    environment = HTML if html else TEXT
    try:
        template = environment.from_string(source)
    except TemplateSyntaxError as exc:
        raise RenderError(exc.message or "syntax error", exc.lineno) from None
    # Its globals as one dict rather than Jinja's chain of the template's over the
    # environment's (neither changes after this): every render copies them into its context,
    # and copying a chain costs a tenth of a small template's render.
    template.globals = dict(template.globals)
    return template


def unknown_variables(source: str, allowed: set[str]) -> list[tuple[str, int]]:
    """The variables a template uses that it is not given, each with its first line."""
    tree = TEXT.parse(source)
    undeclared = meta.find_undeclared_variables(tree) - allowed - set(TEXT.globals)
    lines: dict[str, int] = {}
    for name in tree.find_all(nodes.Name):
        if name.name in undeclared and name.ctx == "load":
            lines.setdefault(name.name, name.lineno)
    return sorted(((name, lines.get(name, 1)) for name in undeclared), key=lambda x: x[1])


def used_variables(source: str) -> set[str]:
    """The variables a template reads from what it is given."""
    return set(meta.find_undeclared_variables(TEXT.parse(source))) - set(TEXT.globals)


def render(
    template: Any,
    variables: Mapping[str, Any],
    locale: str,
    limits: RenderLimits,
) -> str:
    """Render a compiled template within the limits; RenderError says what went wrong."""
    budget = _Budget(limits, babel_locale(locale))
    previous = getattr(_state, "budget", None)
    _state.budget = budget
    try:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            size += len(chunk)
            budget.check_size(size)
            budget.check()
            chunks.append(chunk)
        return "".join(chunks)
    except RenderError:
        raise
    except SecurityError as exc:
        raise RenderError(f"not allowed in a template: {exc}", _template_line(exc)) from None
    except UndefinedError as exc:
        raise RenderError(str(exc), _template_line(exc)) from None
    except TemplateError as exc:
        raise RenderError(str(exc), _template_line(exc)) from None
    except RecursionError:
        raise RenderLimitExceeded("the template recurses too deeply") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RenderError(str(exc), _template_line(exc)) from None
    finally:
        _state.budget = previous


def _template_line(exc: BaseException) -> int | None:
    """The template line a render error happened on, from the traceback Jinja rewrote."""
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


@dataclass
class _Compiled:
    """A compiled template; when it reads no variable (`constant`), its output by locale."""

    template: Any
    constant: bool
    outputs: dict[str, str]


class TemplateCache:
    """Compiled templates by (key, language, version, part): compiled once per version. A
    template that reads no variable (a subject, often) renders the same text every time: it is
    rendered once per locale, within the limits, and that text reused."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._compiled: OrderedDict[tuple[Any, ...], _Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, identity: tuple[Any, ...], source: str, html: bool) -> Any:
        """The compiled template of this identity, compiling `source` the first time."""
        return self._entry(identity, source, html).template

    def render(
        self,
        identity: tuple[Any, ...],
        source: str,
        html: bool,
        variables: Mapping[str, Any],
        locale: str,
        limits: RenderLimits,
    ) -> str:
        """The template of this identity rendered (`render`), compiling it the first time."""
        entry = self._entry(identity, source, html)
        if not entry.constant:
            return render(entry.template, variables, locale, limits)
        output = entry.outputs.get(locale)
        if output is None:  # a failed render is not kept: it fails again next time
            output = entry.outputs[locale] = render(entry.template, variables, locale, limits)
        return output

    def _entry(self, identity: tuple[Any, ...], source: str, html: bool) -> _Compiled:
        with self._lock:
            entry = self._compiled.get(identity)
            if entry is not None:
                self._compiled.move_to_end(identity)
                return entry
        entry = _Compiled(compile_template(source, html), not used_variables(source), {})
        with self._lock:
            self._compiled[identity] = entry
            while len(self._compiled) > self.size:
                self._compiled.popitem(last=False)
        return entry
