"""The problem report as Markdown, as a standalone HTML document and as an A4 PDF (WeasyPrint).

One context (`document_context`) feeds all three: the problem's fields, the linked incidents, impact,
root cause, workaround and fix, every root-cause analysis (the 5 Whys chain, the fishbone drawn as the
same SVG as on the page, the timeline), the contributing factors, the countermeasures, the known errors
and the latest recurrence evaluation. Free text is Markdown rendered by core.markup (sanitised), and
the PDF renderer fetches nothing but data: URLs (the incident report's fetcher)."""

from __future__ import annotations

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import markup
from opsdesk.incidents.report_render import _page_counter, css_string, url_fetcher

from . import rca
from .models import Problem

MAX_HTML_BYTES = 8 * 1024 * 1024
MAX_INCIDENTS = 500  # listed in the report; the count says when there are more


class DocumentTooLarge(Exception):
    pass


def _time(value) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else ""


def _user(user) -> str:
    return (user.get_full_name() or user.username) if user is not None else ""


def _incidents(problem: Problem) -> tuple[list[dict], int]:
    queryset = problem.incidents.order_by("created_at", "id")
    total = queryset.count()
    rows = [{"number": i.number, "title": i.title, "priority": i.priority, "status": i.get_status_display(),
             "opened": _time(i.detected_at or i.created_at), "resolved": _time(i.resolved_at)}
            for i in queryset[:MAX_INCIDENTS]]
    return rows, total


def _countermeasures(problem: Problem) -> list[dict]:
    return [{"title": c.title, "kind": c.get_kind_display(), "owner": _user(c.owner),
             "due": c.due_date.isoformat() if c.due_date else "", "status": c.get_status_display(),
             "change": c.change_number}
            for c in problem.countermeasures.select_related("owner").order_by("due_date", "id")]


def _known_errors(problem: Problem) -> list[dict]:
    return [{"number": k.number, "title": k.title, "status": k.get_status_display(), "workaround": k.workaround}
            for k in problem.known_errors.order_by("id")]


def _known_error_workarounds(known_errors: list[dict]) -> str:
    """The workaround section of a problem without its own: the linked known errors' workarounds."""
    parts = [f"**{k['number']} {k['title']}**\n\n{k['workaround']}" for k in known_errors if k["workaround"].strip()]
    if not parts:
        return ""
    return "\n\n".join([_("From the linked known errors:"), *parts])


def _recurrence(problem: Problem) -> dict | None:
    check = problem.recurrence_checks.order_by("-started_at", "-id").first()
    if check is None:
        return None

    def hours(value):
        return f"{value:.1f} h" if value is not None else "—"

    return {"status": check.get_status_display(), "verdict": check.get_verdict_display() if check.verdict else "",
            "verdict_key": check.verdict, "started": _time(check.started_at), "ends": _time(check.ends_at),
            "evaluated": _time(check.evaluated_at), "count_before": check.count_before,
            "count_after": check.count_after, "mtbi_before": hours(check.mtbi_before_hours),
            "mtbi_after": hours(check.mtbi_after_hours), "explanation": check.explanation,
            "recurrences": list(check.recurrences.order_by("id").values_list("number", flat=True)[:50])}


def _analyses(problem: Problem) -> list[dict]:
    labels = rca.category_labels()
    items = []
    for analysis in problem.analyses.all():
        analysis.problem = problem
        item = {"method": analysis.method, "method_label": str(rca.METHODS.get(analysis.method, analysis.method)),
                "title": analysis.title, "data": analysis.data or {}}
        if analysis.method == "fishbone":
            item["svg"] = rca.fishbone_svg(analysis, labels)
            item["bones"] = rca.fishbone_bones(analysis, labels)
        elif analysis.method == "timeline":
            item["events"] = [{**e, "time": _time(e["at"])} for e in rca.timeline_events(analysis)]
        items.append(item)
    return items


def document_context(problem: Problem) -> dict:
    problem = Problem.objects.select_related("service", "category", "owner_team", "owner").get(pk=problem.pk)
    incidents, incident_total = _incidents(problem)
    known_errors = _known_errors(problem)
    facts = [
        (_("Status"), problem.get_status_display()),
        (_("Priority"), problem.get_priority_display()),
        (_("Service"), problem.service.name if problem.service_id else ""),
        (_("Category"), problem.category.name if problem.category_id else ""),
        (_("Owner team"), problem.owner_team.name if problem.owner_team_id else ""),
        (_("Owner"), _user(problem.owner)),
        (_("Opened"), _time(problem.created_at)),
        (_("Resolved"), _time(problem.resolved_at)),
        (_("Closed"), _time(problem.closed_at)),
        (_("Source"), problem.get_source_display()),
        (_("Linked changes"), ", ".join(str(c) for c in problem.change_numbers or [])),
        (_("Linked incidents"), str(incident_total)),
    ]
    texts = [("description", _("Description"), problem.description),
             ("impact", _("Business impact"), problem.impact_summary),
             ("root_cause", _("Root cause"), problem.root_cause),
             ("workaround", _("Workaround"), problem.workaround or _known_error_workarounds(known_errors)),
             ("fix", _("Fix"), problem.fix_description)]
    now = timezone.localtime()
    return {
        "problem": problem,
        "facts": [facts[i:i + 2] for i in range(0, len(facts), 2)],
        "sections": [{"key": key, "title": title, "text": text or "", "html": markup.render_safe(text or "")}
                     for key, title, text in texts],
        "incidents": incidents,
        "incident_total": incident_total,
        "analyses": _analyses(problem),
        "factors": list(problem.contributing_factors or []),
        "countermeasures": _countermeasures(problem),
        "known_errors": known_errors,
        "recurrence": _recurrence(problem),
        "tz_name": now.tzname(),
        "generated_at": f"{now:%Y-%m-%d %H:%M} {now.tzname()}",
    }


# --- Markdown -------------------------------------------------------------------------------------------

def _cell(text) -> str:
    return str(text or "—").replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or "—"


def _table(headers: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + " --- |" * len(headers),
            *["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]]


def _analysis_markdown(item: dict) -> list[str]:
    heading = item["method_label"] + (f": {item['title']}" if item["title"] else "")
    lines = ["", f"### {heading}", ""]
    data = item["data"]
    if item["method"] == "five_whys":
        if data.get("problem"):
            lines += [f"**{_('Problem')}:** {data['problem']}", ""]
        for index, why in enumerate(data.get("whys") or [], start=1):
            lines.append(f"{index}. **{_('Why %(n)s') % {'n': index}}:** {why['question']}  ")
            lines.append(f"   → {why['answer']}")
        lines += ["", f"**{_('Root cause')}:** {data.get('root_cause') or _('not found yet')}"]
    elif item["method"] == "fishbone":
        lines += [f"**{_('Effect')}:** {data.get('effect', '')}", ""]
        for bone in item["bones"]:
            lines.append(f"- **{bone['label']}**")
            for cause in bone["causes"]:
                lines.append(f"  - {cause['text']}")
                lines += [f"    - {sub}" for sub in cause.get("sub") or []]
        if not item["bones"]:
            lines.append(f"_{_('No causes yet.')}_")
    else:
        lines += _table([_("Time"), _("Kind"), _("What happened")],
                        [[e["time"], e["kind_label"], e["text"]] for e in item["events"]])
    return lines


def report_markdown(problem: Problem) -> str:
    c = document_context(problem)
    p = c["problem"]
    lines = [f"# {p.number}: {p.title}", "", f"_{_('Problem report')} · {p.get_status_display()}_", ""]
    lines += _table([_("Field"), _("Value")], [[label, value] for row in c["facts"] for label, value in row])
    for section in c["sections"]:
        lines += ["", f"## {section['title']}", "", section["text"].strip() or f"_{_('Not filled in.')}_"]
    lines += ["", f"## {_('Linked incidents')}", ""]
    if c["incidents"]:
        lines += _table([_("Number"), _("Title"), _("Priority"), _("Opened"), _("Resolved"), _("Status")],
                        [[i["number"], i["title"], i["priority"], i["opened"], i["resolved"], i["status"]]
                         for i in c["incidents"]])
        if c["incident_total"] > len(c["incidents"]):
            lines.append(_("… and %(n)s more.") % {"n": c["incident_total"] - len(c["incidents"])})
    else:
        lines.append(f"_{_('No linked incidents.')}_")
    lines += ["", f"## {_('Root-cause analysis')}"]
    for item in c["analyses"]:
        lines += _analysis_markdown(item)
    if not c["analyses"]:
        lines += ["", f"_{_('No analysis recorded.')}_"]
    lines += ["", f"## {_('Contributing factors')}", ""]
    lines += [f"- {factor}" for factor in c["factors"]] or [f"_{_('None recorded.')}_"]
    lines += ["", f"## {_('Countermeasures')}", ""]
    if c["countermeasures"]:
        lines += _table([_("Action"), _("Type"), _("Owner"), _("Due"), _("Status"), _("Change")],
                        [[m["title"], m["kind"], m["owner"], m["due"], m["status"], m["change"]]
                         for m in c["countermeasures"]])
    else:
        lines.append(f"_{_('No countermeasures.')}_")
    lines += ["", f"## {_('Known errors')}", ""]
    if c["known_errors"]:
        lines += _table([_("Number"), _("Title"), _("Status"), _("Workaround")],
                        [[k["number"], k["title"], k["status"], k["workaround"]] for k in c["known_errors"]])
    else:
        lines.append(f"_{_('No known errors.')}_")
    lines += ["", f"## {_('Recurrence check')}", ""]
    r = c["recurrence"]
    if r:
        lines += _table([_("Field"), _("Value")], [
            [_("Watch"), f"{r['status']} ({r['started']} – {r['ends']})"], [_("Verdict"), r["verdict"]],
            [_("Incidents before / after"), f"{r['count_before'] if r['count_before'] is not None else '—'} / "
                                            f"{r['count_after'] if r['count_after'] is not None else '—'}"],
            [_("Mean time between incidents before / after"), f"{r['mtbi_before']} / {r['mtbi_after']}"],
            [_("Recurrences"), ", ".join(r["recurrences"])], [_("Explanation"), r["explanation"]]])
    else:
        lines.append(f"_{_('No recurrence check yet: it starts when the problem is resolved.')}_")
    lines += ["", "---", _("Generated by Opsdesk on %(at)s from %(number)s.")
              % {"at": c["generated_at"], "number": p.number}, ""]
    return "\n".join(lines)


# --- HTML and PDF ---------------------------------------------------------------------------------------

def report_html(problem: Problem, *, for_pdf: bool = False) -> str:
    context = document_context(problem)
    p = context["problem"]
    context["for_pdf"] = for_pdf
    context["css"] = {
        "running_head": css_string(f"{p.number} · {p.title}"[:90]),
        "status": css_string(f"{_('Problem report')} · {p.get_status_display()}"),
        "footer_left": css_string(_("%(number)s problem report · generated %(at)s")
                                  % {"number": p.number, "at": context["generated_at"]}),
        "page_counter": _page_counter(),
    }
    html = render_to_string("problems/report_document.html", context)
    if len(html.encode()) > MAX_HTML_BYTES:
        raise DocumentTooLarge(_("The report is too large to render."))
    return html


def pdf_document(problem: Problem):
    import weasyprint

    return weasyprint.HTML(string=report_html(problem, for_pdf=True), base_url=None,
                           url_fetcher=url_fetcher()).render()


def report_pdf(problem: Problem) -> bytes:
    return pdf_document(problem).write_pdf()


def filename(problem: Problem, extension: str) -> str:
    return f"{problem.number}-problem-report-{timezone.localdate().isoformat()}.{extension}"


FORMATS = {"pdf": ("application/pdf", report_pdf), "md": ("text/markdown; charset=utf-8", report_markdown),
           "html": ("text/html; charset=utf-8", report_html)}


REPORT_HTML_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                   "form-action 'none'; frame-ancestors 'self'")


def download_response(problem: Problem, fmt: str) -> HttpResponse:
    """The report as a download (page and API share it); the document's own styles stay out of our CSP."""
    content_type, render = FORMATS[fmt]
    response = HttpResponse(render(problem), content_type=content_type)
    # The HTML report opens in the browser; the others download. The document carries its own styles
    # and no scripts: its own policy allows exactly that (the site's CSP would block the styles).
    disposition = "inline" if fmt == "html" else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename(problem, fmt)}"'
    response["X-Content-Type-Options"] = "nosniff"
    if fmt == "html":
        response["Content-Security-Policy"] = REPORT_HTML_CSP
    return response
