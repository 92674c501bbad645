"""Regular expressions that users write (alert matchers and routes, known errors' log patterns),
compiled with RE2: matching takes time linear in the text, whatever the pattern, so no pattern can
stall a worker or a page (Python's `re` backtracks: `(a|a)*b` takes seconds on 24 characters).
RE2 is also the dialect of Prometheus and Alertmanager, whose matchers Opsdesk reads. It has no
back-references and no look-around; `error()` says so when a pattern uses them."""

from __future__ import annotations

import functools

import re2

_OPTIONS: dict[tuple[bool, bool], re2.Options] = {}


def _options(ignore_case: bool, dot_all: bool) -> re2.Options:
    key = (ignore_case, dot_all)
    if key not in _OPTIONS:
        options = re2.Options()
        options.case_sensitive = not ignore_case
        options.dot_nl = dot_all
        options.log_errors = False  # a refused pattern is answered to its author, not logged by RE2
        options.max_mem = 8 << 20
        _OPTIONS[key] = options
    return _OPTIONS[key]


class PatternError(ValueError):
    """The text is not a regular expression RE2 accepts."""


@functools.lru_cache(maxsize=4096)
def compile(pattern: str, *, ignore_case: bool = False, dot_all: bool = False):  # noqa: A001  (as re.compile)
    """The compiled pattern (its `search`, `match` and `fullmatch` work as in `re`), or PatternError."""
    try:
        return re2.compile(pattern, _options(ignore_case, dot_all))
    except re2.error as exc:
        message = exc.args[0] if exc.args else str(exc)
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise PatternError(str(message)) from None


def error(pattern: str, **flags) -> str | None:
    """Why `pattern` is not accepted, or None."""
    try:
        compile(pattern, **flags)
    except PatternError as exc:
        return str(exc)
    return None


def escape(text: str) -> str:
    return re2.escape(text)
