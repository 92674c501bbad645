"""Root-cause analyses on a problem: 5 Whys, fishbone (Ishikawa) and timeline records, the problem's
contributing factors, and the fishbone drawn as server-rendered SVG (the same markup in the page and
in the PDF report).

Every write locks the problem, refuses closed and cancelled problems (409), validates the method's data
shape strictly (a ValidationError names the path: `whys[2].answer`) and writes one change-log row and one
event on the problem in the same transaction."""

from __future__ import annotations

import datetime
import math
import textwrap

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import audit, events, records
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .configuration import rca_categories
from .models import Problem, RootCauseAnalysis

METHODS = dict(RootCauseAnalysis.METHODS)
READ_ONLY_STATES = ("closed", "cancelled")

MAX_ANALYSES = 20          # per problem
MAX_WHYS = 10
MAX_CAUSES = 60
MAX_SUBS = 10              # sub-causes per cause
MAX_EVENTS = 200
MAX_FACTORS = 30
MAX_TITLE = 200
MAX_STATEMENT = 500        # the problem statement of a 5 Whys, the fishbone's effect
MAX_TEXT = 1000            # a question, an answer
MAX_ROOT_CAUSE = 2000
MAX_CAUSE_TEXT = 300       # a fishbone cause, a sub-cause, a contributing factor, a timeline event
EVENT_KINDS = {
    "detect": gettext_lazy("Detection"),
    "cause": gettext_lazy("Cause"),
    "change": gettext_lazy("Change"),
    "action": gettext_lazy("Action"),
    "communication": gettext_lazy("Communication"),
    "note": gettext_lazy("Note"),
}


# --- validation ----------------------------------------------------------------------------------------

class _Errors:
    """Collects errors by path so one answer names every wrong field."""

    def __init__(self):
        self.found: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.found.setdefault(path, []).append(str(message))

    def raise_if_any(self) -> None:
        if self.found:
            raise ValidationError(self.found)


def _text(errors: _Errors, value, path: str, *, limit: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(path, _("Must be text."))
        return ""
    value = value.strip()
    if required and not value:
        errors.add(path, _("This field is required."))
    if len(value) > limit:
        errors.add(path, _("At most %(n)s characters (this has %(len)s).") % {"n": limit, "len": len(value)})
    return value


def _object(errors: _Errors, value, path: str, allowed: set[str]) -> dict | None:
    if not isinstance(value, dict):
        errors.add(path or "data", _("Must be an object."))
        return None
    for key in sorted(set(value) - allowed):
        errors.add(f"{path}.{key}" if path else key, _("Unknown field."))
    return value


def _list(errors: _Errors, value, path: str, *, limit: int, required: bool = False) -> list:
    if value is None:
        value = []
    if not isinstance(value, list):
        errors.add(path, _("Must be a list."))
        return []
    if required and not value:
        errors.add(path, _("Give at least one entry."))
    if len(value) > limit:
        errors.add(path, _("At most %(n)s entries (this has %(len)s).") % {"n": limit, "len": len(value)})
        return []
    return value


def _five_whys(errors: _Errors, data: dict) -> dict:
    clean = {"problem": _text(errors, data.get("problem"), "problem", limit=MAX_STATEMENT, required=False),
             "whys": [], "root_cause": _text(errors, data.get("root_cause"), "root_cause", limit=MAX_ROOT_CAUSE,
                                             required=False)}
    for index, why in enumerate(_list(errors, data.get("whys"), "whys", limit=MAX_WHYS, required=True)):
        path = f"whys[{index}]"
        if _object(errors, why, path, {"question", "answer"}) is None:
            continue
        clean["whys"].append({
            "question": _text(errors, why.get("question"), f"{path}.question", limit=MAX_TEXT, required=True),
            "answer": _text(errors, why.get("answer"), f"{path}.answer", limit=MAX_TEXT, required=True),
        })
    return clean


def _fishbone(errors: _Errors, data: dict) -> dict:
    categories = {c["key"] for c in rca_categories()}
    clean = {"effect": _text(errors, data.get("effect"), "effect", limit=MAX_STATEMENT, required=True),
             "causes": []}
    for index, cause in enumerate(_list(errors, data.get("causes"), "causes", limit=MAX_CAUSES)):
        path = f"causes[{index}]"
        if _object(errors, cause, path, {"category", "text", "sub"}) is None:
            continue
        category = cause.get("category")
        if not isinstance(category, str) or category not in categories:
            errors.add(f"{path}.category", _("Not an RCA category; one of: %(keys)s.")
                       % {"keys": ", ".join(sorted(categories))})
        subs = []
        for sub_index, sub in enumerate(_list(errors, cause.get("sub"), f"{path}.sub", limit=MAX_SUBS)):
            text = _text(errors, sub, f"{path}.sub[{sub_index}]", limit=MAX_CAUSE_TEXT, required=True)
            if text:
                subs.append(text)
        clean["causes"].append({"category": category if isinstance(category, str) else "",
                                "text": _text(errors, cause.get("text"), f"{path}.text", limit=MAX_CAUSE_TEXT,
                                              required=True),
                                "sub": subs})
    return clean


def parse_moment(value) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)  # a time typed in the page is local time
    return moment.astimezone(datetime.UTC)


def _timeline(errors: _Errors, data: dict) -> dict:
    events_ = []
    for index, event in enumerate(_list(errors, data.get("events"), "events", limit=MAX_EVENTS, required=True)):
        path = f"events[{index}]"
        if _object(errors, event, path, {"at", "text", "kind"}) is None:
            continue
        moment = parse_moment(event.get("at"))
        if moment is None:
            errors.add(f"{path}.at", _("Give a date and time (ISO 8601, e.g. 2026-11-20T10:04:00Z)."))
        kind = event.get("kind") or "note"
        if kind not in EVENT_KINDS:
            errors.add(f"{path}.kind", _("One of: %(kinds)s.") % {"kinds": ", ".join(EVENT_KINDS)})
        text = _text(errors, event.get("text"), f"{path}.text", limit=MAX_CAUSE_TEXT, required=True)
        if moment is not None:
            events_.append({"at": moment.isoformat().replace("+00:00", "Z"), "text": text, "kind": kind})
    events_.sort(key=lambda e: e["at"])  # ISO UTC strings sort by time
    return {"events": events_}


VALIDATORS = {"five_whys": _five_whys, "fishbone": _fishbone, "timeline": _timeline}


def validate_data(method: str, data) -> dict:
    """The analysis data in its stored shape, or a ValidationError naming each wrong path."""
    errors = _Errors()
    if method not in VALIDATORS:
        raise ValidationError({"method": [_("One of: %(methods)s.") % {"methods": ", ".join(VALIDATORS)}]})
    allowed = {"five_whys": {"problem", "whys", "root_cause"}, "fishbone": {"effect", "causes"},
               "timeline": {"events"}}[method]
    if _object(errors, data, "", allowed) is None:
        errors.raise_if_any()
    clean = VALIDATORS[method](errors, data)
    errors.raise_if_any()
    return clean


def _validate_title(title) -> str:
    errors = _Errors()
    title = _text(errors, title, "title", limit=MAX_TITLE, required=False)
    errors.raise_if_any()
    return title


def clean_factors(factors) -> list[str]:
    errors = _Errors()
    clean: list[str] = []
    for index, factor in enumerate(_list(errors, factors, "factors", limit=MAX_FACTORS)):
        text = _text(errors, factor, f"factors[{index}]", limit=MAX_CAUSE_TEXT, required=False)
        if text and text not in clean:
            clean.append(text)
    errors.raise_if_any()
    return clean


# --- writes --------------------------------------------------------------------------------------------

def check_editable(problem: Problem) -> None:
    if problem.status in READ_ONLY_STATES:
        raise TransitionNotAllowed(
            _("%(number)s is %(state)s: its root-cause analysis is read-only.")
            % {"number": problem.number, "state": problem.get_status_display()})


def _lock(problem: Problem) -> Problem:
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    check_editable(problem)
    return problem


def label_of(analysis: RootCauseAnalysis) -> str:
    method = str(METHODS.get(analysis.method, analysis.method))
    return f"{method}: {analysis.title}" if analysis.title else method


def summary_of(method: str, data: dict | None) -> str:
    """An analysis as readable text, for the problem's change log (which keeps it after a deletion)."""
    if not data:
        return ""
    lines = []
    if method == "five_whys":
        if data.get("problem"):
            lines.append(_("Problem: %(text)s") % {"text": data["problem"]})
        for number, why in enumerate(data.get("whys") or [], start=1):
            lines.append(_("Why %(n)s: %(q)s → %(a)s") % {"n": number, "q": why.get("question", ""),
                                                           "a": why.get("answer", "")})
        if data.get("root_cause"):
            lines.append(_("Root cause: %(text)s") % {"text": data["root_cause"]})
    elif method == "fishbone":
        labels = {c["key"]: c["label"] for c in rca_categories()}
        lines.append(_("Effect: %(text)s") % {"text": data.get("effect", "")})
        for cause in data.get("causes") or []:
            subs = "; ".join(cause.get("sub") or [])
            label = labels.get(cause.get("category"), cause.get("category", ""))
            lines.append(f"{label}: {cause.get('text', '')}" + (f" ({subs})" if subs else ""))
    else:
        for event in data.get("events") or []:
            at = str(event.get("at", "")).replace("T", " ")[:16]
            lines.append(f"{at} {EVENT_KINDS.get(event.get('kind'), event.get('kind', ''))}: {event.get('text', '')}")
    return "\n".join(str(line) for line in lines)


def add_analysis(problem: Problem, *, actor: Actor, method: str, data, title: str = "") -> RootCauseAnalysis:
    clean = validate_data(method, data)
    title = _validate_title(title)
    with transaction.atomic():
        problem = _lock(problem)
        if problem.analyses.count() >= MAX_ANALYSES:
            raise ValidationError({"method": [_("A problem holds at most %(n)s analyses.") % {"n": MAX_ANALYSES}]})
        last = problem.analyses.order_by("-order").values_list("order", flat=True).first()
        analysis = RootCauseAnalysis(problem=problem, method=method, title=title, data=clean,
                                     order=(last or 0) + 10, created_by=actor.user, updated_by=actor.user)
        analysis.full_clean()
        analysis.save()
        audit.record(problem, actor=actor, action="rca_add",
                     changes={"analysis": [None, label_of(analysis)], "content": [None, summary_of(method, clean)]})
        events.emit("problem.rca_added", problem, actor=actor,
                    payload={"analysis": analysis.pk, "method": method})
    return analysis


def update_analysis(analysis: RootCauseAnalysis, *, actor: Actor, data, title: str | None = None) -> RootCauseAnalysis:
    clean = validate_data(analysis.method, data)
    title = _validate_title(title) if title is not None else None
    with transaction.atomic():
        _lock(analysis.problem)
        analysis = RootCauseAnalysis.objects.select_for_update().select_related("problem").get(pk=analysis.pk)
        changes = {}
        if clean != analysis.data:
            changes["content"] = [summary_of(analysis.method, analysis.data), summary_of(analysis.method, clean)]
            analysis.data = clean
        if title is not None and title != analysis.title:
            changes["title"] = [analysis.title, title]
            analysis.title = title
        if changes:
            analysis.updated_by = actor.user
            analysis.full_clean()
            analysis.save()
            changes = {"analysis": [label_of(analysis), label_of(analysis)], **changes}
            audit.record(analysis.problem, actor=actor, action="rca_update", changes=changes)
            events.emit("problem.rca_updated", analysis.problem, actor=actor,
                        payload={"analysis": analysis.pk, "method": analysis.method})
    return analysis


def delete_analysis(analysis: RootCauseAnalysis, *, actor: Actor) -> None:
    """Removes the analysis; its last content stays in the problem's change log."""
    with transaction.atomic():
        problem = _lock(analysis.problem)
        analysis = RootCauseAnalysis.objects.select_for_update().get(pk=analysis.pk)
        audit.record(problem, actor=actor, action="rca_delete",
                     changes={"analysis": [label_of(analysis), None],
                              "content": [summary_of(analysis.method, analysis.data), None]})
        events.emit("problem.rca_deleted", problem, actor=actor,
                    payload={"analysis": analysis.pk, "method": analysis.method})
        analysis.delete()


def _update_problem(problem: Problem, *, actor: Actor, data: dict) -> Problem:
    """Through the problems service when it is there (its rules and change log), else the generic write."""
    from . import services

    if hasattr(services, "update_problem"):
        return services.update_problem(problem, actor=actor, data=data)
    return records.update_record(problem, actor=actor, fields=data, audited=sorted(data))


def set_contributing_factors(problem: Problem, factors, *, actor: Actor) -> Problem:
    clean = clean_factors(factors)
    with transaction.atomic():
        problem = _lock(problem)
        if clean == list(problem.contributing_factors or []):
            return problem
        return _update_problem(problem, actor=actor, data={"contributing_factors": clean})


def use_as_root_cause(analysis: RootCauseAnalysis, *, actor: Actor) -> Problem:
    """Copy a 5 Whys' root cause to the problem's root cause (what resolving the problem needs)."""
    if analysis.method != "five_whys":
        raise ValidationError({"method": [_("Only a 5 Whys has a root cause to copy.")]})
    text = str((analysis.data or {}).get("root_cause") or "").strip()
    if not text:
        raise ValidationError({"root_cause": [_("This 5 Whys has no root cause yet.")]})
    with transaction.atomic():
        problem = _lock(analysis.problem)
        if problem.root_cause.strip() == text:
            return problem
        return _update_problem(problem, actor=actor, data={"root_cause": text})


# --- reading -------------------------------------------------------------------------------------------

def category_labels() -> dict[str, str]:
    return {c["key"]: _(c.get("label") or c["key"]) for c in rca_categories()}


def fishbone_bones(analysis: RootCauseAnalysis, labels: dict[str, str] | None = None) -> list[dict]:
    """The causes grouped by category, in the configured order; categories no longer configured last."""
    labels = labels if labels is not None else category_labels()
    causes = (analysis.data or {}).get("causes") or []
    keys = [k for k in labels if any(c.get("category") == k for c in causes)]
    keys += sorted({c.get("category") or "" for c in causes} - set(keys))
    return [{"key": key, "label": labels.get(key, key or _("Other")),
             "causes": [c for c in causes if (c.get("category") or "") == key]} for key in keys]


def timeline_events(analysis: RootCauseAnalysis) -> list[dict]:
    rows = []
    for event in (analysis.data or {}).get("events") or []:
        moment = parse_moment(event.get("at"))
        rows.append({"at": moment, "local": timezone.localtime(moment) if moment else None,
                     "text": event.get("text", ""), "kind": event.get("kind", "note"),
                     "kind_label": EVENT_KINDS.get(event.get("kind"), event.get("kind", ""))})
    return rows


# --- the fishbone as SVG -------------------------------------------------------------------------------

FONT = 11          # px
ROW = 15           # px per text line
CHAR = 6.3         # px, the mean advance of DejaVu Sans at 11px (a safe over-estimate for sizing)
WRAP = 38          # characters per line of a cause
SPINE_STROKE = 3


def _lines(text: str, width: int = WRAP) -> list[str]:
    return textwrap.wrap(str(text), width=width, break_long_words=True) or [""]


def _text_el(x: float, y: float, lines: list[str], *, anchor: str = "end", size: int = FONT,
             weight: str = "normal", fill: str = "#1f2937", css: str = "") -> str:
    spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else ROW}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    extra = f' class="{css}"' if css else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
            f'fill="{fill}"{extra}>{spans}</text>')


def _bone_x(end_x: float, end_y: float, join: float, spine_y: float, y: float) -> float:
    """The x of a bone (from its outer end to its joint on the spine) at height y."""
    share = (y - end_y) / (spine_y - end_y) if spine_y != end_y else 1.0
    return end_x + (join - end_x) * share


def fishbone_svg(analysis: RootCauseAnalysis, labels: dict[str, str] | None = None) -> SafeString:
    """An Ishikawa diagram: a spine into the effect box at the right, one slanted bone per category
    (alternating above and below the spine) with its causes and their sub-causes along it. Sized to
    its content; every text is escaped. `labels`: the category labels, when the caller has read them."""
    bones = fishbone_bones(analysis, labels)
    effect = str((analysis.data or {}).get("effect") or "")
    # Each bone's rows from the spine outwards: (lines, is_sub).
    for bone in bones:
        rows = []
        for cause in bone["causes"]:
            rows.append((_lines(cause.get("text", "")), False))
            rows.extend((_lines("– " + sub, WRAP - 2), True) for sub in cause.get("sub") or [])
        bone["rows"] = rows
        bone["height"] = max(70, 24 + sum(len(lines) * ROW + 6 for lines, _sub in rows))
        bone["text_width"] = max([len(line) * CHAR for lines, _sub in rows for line in lines]
                                 + [len(bone["label"]) * (CHAR + 0.6) / 2, 40])
    top, bottom = bones[0::2], bones[1::2]
    reach_top = max([b["height"] for b in top] + [60])
    reach_bottom = max([b["height"] for b in bottom] + [60]) if bottom else 40
    label_h = 26
    margin = 12
    spine_y = margin + label_h + reach_top
    height = spine_y + reach_bottom + (label_h if bottom else 0) + margin
    columns = max(1, math.ceil(len(bones) / 2))
    parts: list[str] = []
    x = margin + 10
    joins = []
    for column in range(columns):
        pair = [b for b in (top[column] if column < len(top) else None,
                            bottom[column] if column < len(bottom) else None) if b]
        slant = max(b["height"] for b in pair) * 0.45 if pair else 40
        width = max([b["text_width"] for b in pair] + [60]) + slant + 24
        join = x + width
        joins.append(join)
        for bone, above in ((p, p in top) for p in pair):
            reach = reach_top if above else reach_bottom
            sign = -1 if above else 1
            end_y = spine_y + sign * reach
            end_x = join - slant
            parts.append(f'<line x1="{end_x:.1f}" y1="{end_y:.1f}" x2="{join:.1f}" y2="{spine_y:.1f}" '
                         f'stroke="#1f3a5f" stroke-width="2"/>')
            box_w = max(len(bone["label"]) * (CHAR + 0.6) + 16, 60)
            box_y = end_y - label_h + 2 if above else end_y - 2
            parts.append(f'<rect x="{end_x - box_w / 2:.1f}" y="{box_y:.1f}" width="{box_w:.1f}" '
                         f'height="{label_h - 4}" rx="3" fill="#eef2f7" stroke="#1f3a5f" stroke-width="1"/>')
            parts.append(_text_el(end_x, box_y + label_h / 2 + 2, [bone["label"]], anchor="middle",
                                  weight="bold", fill="#1f3a5f", css="fishbone-category"))
            # Causes along the bone: above the spine from the bone's outer end inwards, below from the spine out.
            y = end_y + 22 if above else spine_y + 22
            for lines, is_sub in bone["rows"]:
                block = len(lines) * ROW
                meet_y = y + block - ROW + 4  # under the last line: where the cause's stroke meets the bone
                text_x = min(_bone_x(end_x, end_y, join, spine_y, y - FONT),
                             _bone_x(end_x, end_y, join, spine_y, meet_y)) - (16 if is_sub else 6)
                if is_sub:
                    parts.append(_text_el(text_x, y, lines, size=FONT - 1, fill="#4b5563", css="fishbone-sub"))
                else:
                    start_x = text_x - max(len(line) for line in lines) * CHAR
                    parts.append(f'<line x1="{start_x:.1f}" y1="{meet_y:.1f}" '
                                 f'x2="{_bone_x(end_x, end_y, join, spine_y, meet_y):.1f}" y2="{meet_y:.1f}" '
                                 f'stroke="#9ca3af" stroke-width="1"/>')
                    parts.append(_text_el(text_x, y, lines, css="fishbone-cause"))
                y += block + 6
        x = join
    # The spine and the effect box (the head of the fish).
    effect_lines = _lines(effect or _("Effect"), 26)
    box_w = max(len(line) for line in effect_lines) * (CHAR + 0.4) + 24
    box_h = len(effect_lines) * ROW + 16
    head_x = x + 28
    parts.append(f'<line x1="{margin:.1f}" y1="{spine_y:.1f}" x2="{head_x - 8:.1f}" y2="{spine_y:.1f}" '
                 f'stroke="#1f3a5f" stroke-width="{SPINE_STROKE}"/>')
    parts.append(f'<polygon points="{head_x - 12:.1f},{spine_y - 6:.1f} {head_x:.1f},{spine_y:.1f} '
                 f'{head_x - 12:.1f},{spine_y + 6:.1f}" fill="#1f3a5f"/>')
    parts.append(f'<rect x="{head_x:.1f}" y="{spine_y - box_h / 2:.1f}" width="{box_w:.1f}" height="{box_h:.1f}" '
                 f'rx="4" fill="#1f3a5f"/>')
    parts.append(_text_el(head_x + box_w / 2, spine_y - box_h / 2 + 8 + FONT, effect_lines, anchor="middle",
                          weight="bold", fill="#ffffff", css="fishbone-effect"))
    if not bones:
        parts.append(_text_el(margin + 10, spine_y - 10, [_("No causes yet.")], anchor="start", fill="#6b7280"))
    width = head_x + box_w + margin
    height = max(height, box_h + 2 * margin)
    title = escape(_("Fishbone diagram: %(effect)s") % {"effect": effect})
    return mark_safe(  # noqa: S308  (every text above went through escape(); numbers are formatted floats)
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fishbone" role="img" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Arial, sans-serif">'
        f'<title>{title}</title>{"".join(parts)}</svg>')
