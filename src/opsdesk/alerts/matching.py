"""Label matchers, grouping-key templates and route selection.

Matchers follow Alertmanager: `=`, `!=`, `=~`, `!~`; a regular expression must match the whole value
(it is anchored); a label the alert does not carry counts as the empty string, so `team=""` matches an
alert without a team label. Grouping keys are a tiny substitution of `{{ label }}` placeholders, never a
template language: a key template cannot run code.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # the parsed form of a pattern, to see how it repeats
import re._parser as sre_parse
import threading
import time
import uuid

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from opsdesk.core import patterns

OPERATORS = ("=", "!=", "=~", "!~")
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_MATCHERS = 50
MAX_VALUE = 1000
# `name op value` as Alertmanager writes a matcher (`severity=~"critical|error"`); the value may be quoted.
_MATCHER_TEXT = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*')
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
MAX_TEMPLATE = 500
# A repeat of more than this many rounds around a repeat of variable length (`(a+)+`, `(\w+\s?)*`,
# `(a+){20}`) can take exponential time on a non-matching value: Python's `re` backtracks.
MAX_OUTER_ROUNDS = 10
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None)}


def compile_regex(pattern: str):
    """The pattern as matched, with RE2 as Alertmanager does (callers anchor it with `fullmatch`, as
    Alertmanager anchors its regular expressions); linear time whatever the pattern (core.patterns)."""
    return patterns.compile(f"(?:{pattern})", dot_all=True)


def _regex_error(pattern: str) -> str | None:
    return patterns.error(f"(?:{pattern})", dot_all=True)


def _children(av):
    """The sub-patterns inside one parsed node's argument (groups, branches, repeats, lookarounds)."""
    if isinstance(av, sre_parse.SubPattern):
        yield av
    elif isinstance(av, tuple | list):
        for item in av:
            yield from _children(item)


def _has_variable_repeat(items) -> bool:
    for op, av in items:
        if op in _REPEATS and av[0] != av[1]:
            return True
        if any(_has_variable_repeat(child) for child in _children(av)):
            return True
    return False


def _nests_repeats(items) -> bool:
    for op, av in items:
        if op in _REPEATS:
            rounds, body = av[1], av[2]
            if (rounds == sre_constants.MAXREPEAT or rounds > MAX_OUTER_ROUNDS) and _has_variable_repeat(body):
                return True
        if any(_nests_repeats(child) for child in _children(av)):
            return True
    return False


def regex_cost_error(pattern: str) -> str | None:
    """Why matching `pattern` could take very long, or None: a pattern over MAX_VALUE characters, or a
    repeat inside a repeat such as `(a+)+` (a simple check; every regular expression of a matcher, a
    silence or a route passes it before it is stored or used)."""
    if len(pattern) > MAX_VALUE:
        return _("a regular expression is limited to %(n)s characters") % {"n": MAX_VALUE}
    try:
        parsed = sre_parse.parse(f"(?:{pattern})")
    except (re.error, RecursionError, OverflowError):
        return None  # not a valid pattern at all: _regex_error says why
    if _nests_repeats(parsed):
        return _("it repeats a repeated part, such as (a+)+ or (\\w+\\s?)*, which can take very long to match; "
                 "write it without a repeat inside a repeat")
    return None


def validate_regex(pattern: str, *, field: str = "source_pattern") -> str:
    """A regular expression as typed (e.g. a route's source pattern), or ValidationError for `field`."""
    pattern = str(pattern or "")
    if len(pattern) > MAX_VALUE:
        raise ValidationError({field: _("A regular expression is limited to %(n)s characters.") % {"n": MAX_VALUE}})
    error = _regex_error(pattern) if pattern else None
    if error:
        raise ValidationError({field: _("%(p)s is not a valid regular expression: %(e)s.")
                               % {"p": pattern, "e": error}})
    cost = regex_cost_error(pattern) if pattern else None
    if cost:
        raise ValidationError({field: _("%(p)s is refused: %(e)s.") % {"p": pattern[:100], "e": cost}})
    return pattern


def _parse_text(text: str) -> dict | None:
    found = _MATCHER_TEXT.fullmatch(text)
    if not found:
        return None
    label, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return {"label": label, "op": op, "value": value}


def validate_matchers(value) -> list[dict]:
    """Matchers as stored: `[{"label", "op", "value"}]`. Also accepts Alertmanager's text form
    (`'team=~"db|web"'`) per entry. Raises ValidationError naming the entry that is wrong."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise ValidationError(_('Give a list of matchers such as [{"label": "team", "op": "=", "value": "db"}].'))
    if len(value) > MAX_MATCHERS:
        raise ValidationError(_("At most %(n)s matchers.") % {"n": MAX_MATCHERS})
    cleaned = []
    for number, entry in enumerate(value, start=1):
        if isinstance(entry, str):
            parsed = _parse_text(entry)
            if parsed is None:
                raise ValidationError(_('Matcher %(n)s ("%(text)s"): write it as label=value, label!=value, '
                                        'label=~regex or label!~regex.') % {"n": number, "text": entry[:100]})
            entry = parsed
        if not isinstance(entry, dict):
            raise ValidationError(_("Matcher %(n)s: an object with label, op and value.") % {"n": number})
        unknown = set(entry) - {"label", "op", "value"}
        if unknown:
            raise ValidationError(_("Matcher %(n)s: unknown keys %(keys)s (use label, op and value).")
                                  % {"n": number, "keys": ", ".join(sorted(map(str, unknown)))})
        label, op, text = entry.get("label"), entry.get("op", "="), entry.get("value", "")
        if not isinstance(label, str) or not LABEL_NAME.fullmatch(label):
            raise ValidationError(_("Matcher %(n)s: %(label)r is not a label name (letters, digits and _, not "
                                    "starting with a digit).") % {"n": number, "label": label})
        if op not in OPERATORS:
            raise ValidationError(_("Matcher %(n)s (%(label)s): the operator must be one of %(ops)s, not %(op)r.")
                                  % {"n": number, "label": label, "ops": ", ".join(OPERATORS), "op": op})
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise ValidationError(_("Matcher %(n)s (%(label)s): the value must be text.")
                                  % {"n": number, "label": label})
        text = str(text)
        if len(text) > MAX_VALUE:
            raise ValidationError(_("Matcher %(n)s (%(label)s): the value is limited to %(max)s characters.")
                                  % {"n": number, "label": label, "max": MAX_VALUE})
        if op in ("=~", "!~"):
            error = _regex_error(text)
            if error:
                raise ValidationError(_("Matcher %(n)s (%(label)s%(op)s%(value)s): not a valid regular expression: "
                                        "%(error)s.") % {"n": number, "label": label, "op": op,
                                                         "value": text[:100], "error": error})
            cost = regex_cost_error(text)
            if cost:
                raise ValidationError(_("Matcher %(n)s (%(label)s%(op)s%(value)s): refused: %(error)s.")
                                      % {"n": number, "label": label, "op": op, "value": text[:100], "error": cost})
        cleaned.append({"label": label, "op": op, "value": text})
    return cleaned


def validate_not_matching_everything(matchers: list[dict]) -> list[dict]:
    """Refuse matchers that all match the empty string (a missing label), as Alertmanager refuses such a
    silence: `alertname=~".*"` or `team!="db"` alone would silence nearly every alert. At least one
    matcher must need a label value, such as `alertname="DiskFull"` or `team=~"db.+"`."""
    if all(matches([matcher], {}) for matcher in matchers):
        raise ValidationError(_("These matchers also match alerts without the labels they name, so they would "
                                "match nearly every alert. At least one matcher must need a value, e.g. "
                                'alertname="DiskFull" or team=~"db.+".'))
    return matchers


def matches(matchers: list[dict], labels: dict) -> bool:
    """Whether every matcher holds for `labels` (no matchers: everything matches)."""
    for matcher in matchers:
        actual = labels.get(matcher["label"])
        actual = "" if actual is None else str(actual)
        op, value = matcher["op"], matcher["value"]
        if op == "=":
            ok = actual == value
        elif op == "!=":
            ok = actual != value
        else:
            found = compile_regex(value).fullmatch(actual) is not None
            ok = found if op == "=~" else not found
        if not ok:
            return False
    return True


# --- grouping keys ------------------------------------------------------------------------------------

def validate_template(text) -> str:
    """A grouping-key template: text with `{{ label }}` placeholders and nothing else in braces."""
    text = str(text or "").strip()
    if len(text) > MAX_TEMPLATE:
        raise ValidationError(_("The grouping key is limited to %(n)s characters.") % {"n": MAX_TEMPLATE})
    rest = _PLACEHOLDER.sub("", text)
    for token in ("{{", "}}", "{%", "%}"):
        if token in rest:
            raise ValidationError(_("The grouping key may only hold placeholders such as {{ alertname }} (a label "
                                    "name in double braces); %(token)s is left over in %(text)s.")
                                  % {"token": token, "text": text[:200]})
    return text


def template_labels(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text or "")


def render_group_key(template: str, labels: dict) -> str:
    """`{{ name }}` -> the label's value ("" when missing). Example: "{{ alertname }}/{{ cluster }}"."""
    return _PLACEHOLDER.sub(lambda found: str(labels.get(found.group(1)) or ""), template or "")


# --- routes -------------------------------------------------------------------------------------------

ROUTES_VERSION_KEY = "alerts:routes-version"
ROUTES_TTL_SECONDS = 5.0


class _CompiledRoute:
    __slots__ = ("route", "matchers", "severities", "source", "integration_id")

    def __init__(self, route):
        self.route = route
        self.integration_id = route.integration_id
        try:
            self.matchers = validate_matchers(route.matchers)
            self.source = compile_regex(route.source_pattern) if route.source_pattern else None
        except (ValidationError, patterns.PatternError):
            self.matchers, self.source = None, None  # a broken rule (written past validation) matches nothing
        self.severities = set(route.severities or [])

    def applies(self, labels: dict, severity: str, source: str, integration_id) -> bool:
        if self.matchers is None:
            return False
        if self.integration_id is not None and self.integration_id != integration_id:
            return False
        if self.severities and severity not in self.severities:
            return False
        if self.source is not None and self.source.fullmatch(source or "") is None:
            return False
        return matches(self.matchers, labels)


_routes_lock = threading.Lock()
_routes_cache: dict = {"version": None, "loaded_at": 0.0, "routes": []}


def _shared_version() -> str:
    version = cache.get(ROUTES_VERSION_KEY)
    if version is None:
        cache.add(ROUTES_VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(ROUTES_VERSION_KEY) or ""
    return version


def _enabled_routes() -> list[_CompiledRoute]:
    """The enabled routes in order, compiled; reloaded when another process announced a change
    (`routes_changed`) or after a few seconds (a process whose cache the others cannot see)."""
    version = _shared_version()
    now = time.monotonic()
    with _routes_lock:
        if _routes_cache["version"] == version and now - _routes_cache["loaded_at"] < ROUTES_TTL_SECONDS:
            return _routes_cache["routes"]
    from .models import Route

    routes = [_CompiledRoute(route) for route in Route.objects.filter(enabled=True).select_related(
        "service", "team", "escalation_policy").order_by("order", "name", "pk")]
    with _routes_lock:
        _routes_cache.update(version=version, loaded_at=now, routes=routes)
    return routes


def routes_changed() -> None:
    """Call after every write of a route: every process reloads its route list (after the commit)."""
    with _routes_lock:
        _routes_cache.update(version=None, loaded_at=0.0, routes=[])

    def bump():
        cache.set(ROUTES_VERSION_KEY, uuid.uuid4().hex, None)
        with _routes_lock:
            _routes_cache.update(version=None, loaded_at=0.0, routes=[])

    transaction.on_commit(bump)


def route_for(event_or_labels, severity: str | None = None, source: str | None = None, integration=None):
    """The first enabled route, by order, whose integration (when set), matchers, severities and source
    pattern all match; None when none does. `event_or_labels` is an AlertEvent (its severity and source
    are used unless given) or a dict of labels."""
    labels = event_or_labels if isinstance(event_or_labels, dict) else event_or_labels.labels
    if severity is None:
        severity = getattr(event_or_labels, "severity", "") or ""
    if source is None:
        source = getattr(event_or_labels, "source", "") or ""
    integration_id = getattr(integration, "pk", integration)
    for compiled in _enabled_routes():
        if compiled.applies(labels, severity, source, integration_id):
            return compiled.route
    return None
