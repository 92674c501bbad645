"""An incident report as Markdown, as a standalone HTML document and as an A4 PDF (WeasyPrint).

All three come from one context (`document_context`), so they say the same thing. Section text is
Markdown rendered by core.markup (sanitised; no images), and the PDF renderer fetches nothing but
data: URLs, so a report cannot make the server reach out to the network while it renders."""

from __future__ import annotations

import logging
import re

from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from opsdesk.core import markup

from . import reports
from .models import IncidentReport

# A report is bounded by reports.MAX_* already; this is the backstop for the rendered document.
MAX_HTML_BYTES = 5 * 1024 * 1024
# WeasyPrint logs every layout step at INFO; one line per page of every download is noise in the server log.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


class DocumentTooLarge(Exception):
    pass


def _date(value) -> str:
    return value.isoformat() if value else ""


def _timeline_rows(report: IncidentReport) -> list[dict]:
    rows = []
    for row in report.timeline or []:
        moment = reports.parse_moment(row.get("at"))
        rows.append({"at": moment, "time": reports.format_time(moment).rsplit(" ", 1)[0] if moment else "",
                     "text": str(row.get("text") or "")})
    return rows


def _action_items(report: IncidentReport) -> list[dict]:
    today = timezone.localdate()
    items = report.action_items.select_related("owner").order_by(F("due_date").asc(nulls_last=True), "id")
    return [{"pk": item.pk, "title": item.title, "owner": item.owner.username if item.owner_id else "",
             "owner_name": (item.owner.get_full_name() or item.owner.username) if item.owner_id else "",
             "due": _date(item.due_date), "status": item.get_status_display(), "status_key": item.status,
             "overdue": reports.is_overdue(item, today)} for item in items]


def document_context(report: IncidentReport) -> dict:
    incident = report.incident
    start, end = reports.incident_window(incident)
    duration = reports.format_duration((end - start).total_seconds()) if end else _("ongoing")
    sections = reports.report_sections(report)
    for section in sections:
        section["html"] = markup.render_safe(section["text"])
    status_label = str(dict(IncidentReport.STATES).get(report.status, report.status))
    people = ", ".join(str(u.get_full_name() or u.username) for u in (incident.commander,) if u is not None)
    facts = [
        (_("Priority"), incident.get_priority_display(), f"priority priority-{incident.priority}"),
        (_("Status"), incident.get_status_display(), ""),
        (_("Service"), incident.service.name if incident.service_id else "", ""),
        (_("Team"), incident.assignment_group.name if incident.assignment_group_id else "", ""),
        (_("Detected"), reports.format_time(start), ""),
        (_("Resolved"), reports.format_time(incident.resolved_at), ""),
        (_("Duration"), duration, ""),
        (_("Closed"), reports.format_time(incident.closed_at), ""),
        (_("Major incident"), {"major": _("Yes"), "proposed": _("Proposed"), "rejected": _("No (proposal rejected)")}
         .get(incident.major_status, _("No")), ""),
        (_("Commander"), people, ""),
        (_("Report"), status_label, ""),
        (_("Completed"), reports.format_time(report.completed_at), ""),
    ]
    now = timezone.localtime()
    return {
        "report": report,
        "incident": incident,
        "status_label": status_label,
        "facts": [facts[i:i + 2] for i in range(0, len(facts), 2)],
        "sections": sections,
        "timeline": _timeline_rows(report),
        "action_items": _action_items(report),
        "tz_name": now.tzname(),
        "generated_at": f"{now:%Y-%m-%d %H:%M} {now.tzname()}",
    }


# --- Markdown -------------------------------------------------------------------------------------------

def _md_cell(text) -> str:
    return str(text or "—").replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or "—"


def to_markdown(report: IncidentReport) -> str:
    context = document_context(report)
    incident = context["incident"]
    lines = [f"# {incident.number}: {incident.title}", "",
             f"_{_('Incident report')} · {context['status_label']}_", "",
             f"| {_('Field')} | {_('Value')} |", "| --- | --- |"]
    for row in context["facts"]:
        for label, value, _css in row:
            lines.append(f"| {_md_cell(label)} | {_md_cell(value)} |")
    for section in context["sections"]:
        lines += ["", f"## {section['title']}", "", section["text"].strip() or f"_{_('Not filled in.')}_"]
    lines += ["", f"## {_('Timeline')}", ""]
    if context["timeline"]:
        lines += [f"| {_('Time (%(tz)s)') % {'tz': context['tz_name']}} | {_('What happened')} |", "| --- | --- |"]
        lines += [f"| {_md_cell(row['time'])} | {_md_cell(row['text'])} |" for row in context["timeline"]]
    else:
        lines.append(f"_{_('No timeline entries.')}_")
    lines += ["", f"## {_('Action items')}", ""]
    if context["action_items"]:
        lines += [f"| {_('Action')} | {_('Owner')} | {_('Due')} | {_('Status')} |", "| --- | --- | --- | --- |"]
        for item in context["action_items"]:
            due = item["due"] + (f" ({_('overdue')})" if item["overdue"] else "")
            lines.append(f"| {_md_cell(item['title'])} | {_md_cell(item['owner'])} | {_md_cell(due)} | "
                         f"{_md_cell(item['status'])} |")
    else:
        lines.append(f"_{_('No action items.')}_")
    lines += ["", "---", _("Generated by Opsdesk on %(at)s from %(number)s.")
              % {"at": context["generated_at"], "number": incident.number}, ""]
    return "\n".join(lines)


# --- HTML and PDF ---------------------------------------------------------------------------------------

def css_string(text: str):
    """A CSS string literal that cannot end the string or the <style> element it sits in."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
    escaped = re.sub(r"[\r\n\f]", " ", escaped)  # a newline cannot sit in a CSS string
    return mark_safe(f'"{escaped}"')  # noqa: S308  (escaped above)


def _page_counter():
    """'Page 1 of 3' in the page footer, from the translated sentence, with CSS counters in its slots."""
    sentence = _("Page %(page)s of %(pages)s")
    parts = re.split(r"(%\(page\)s|%\(pages\)s)", sentence)
    tokens = []
    for part in parts:
        if part == "%(page)s":
            tokens.append("counter(page)")
        elif part == "%(pages)s":
            tokens.append("counter(pages)")
        elif part:
            tokens.append(str(css_string(part)))
    return mark_safe(" ".join(tokens))  # noqa: S308  (built from escaped strings and fixed tokens)


def to_html(report: IncidentReport, *, for_pdf: bool = False) -> str:
    context = document_context(report)
    incident = context["incident"]
    context["for_pdf"] = for_pdf
    context["css"] = {
        "running_head": css_string(f"{incident.number} · {incident.title}"[:90]),
        "status": css_string(f"{_('Incident report')} · {context['status_label']}"),
        "footer_left": css_string(_("%(number)s incident report · generated %(at)s")
                                  % {"number": incident.number, "at": context["generated_at"]}),
        "page_counter": _page_counter(),
    }
    html = render_to_string("incidents/report_document.html", context)
    if len(html.encode()) > MAX_HTML_BYTES:
        raise DocumentTooLarge(_("The report is too large to render."))
    return html


def url_fetcher():
    """WeasyPrint's URL fetcher for reports: data: URLs only; nothing is fetched from the network or the disk."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=2)


def pdf_document(report: IncidentReport):
    """The laid-out WeasyPrint document (pages), for writing or inspecting."""
    import weasyprint

    html = weasyprint.HTML(string=to_html(report, for_pdf=True), base_url=None, url_fetcher=url_fetcher())
    return html.render()


def to_pdf(report: IncidentReport) -> bytes:
    return pdf_document(report).write_pdf()


def filename(report: IncidentReport, extension: str) -> str:
    stamp = timezone.localdate().isoformat()
    return f"{report.incident.number}-incident-report-{stamp}.{extension}"
