"""The difference between two versions of an article: line by line (difflib), as data for the API and
as escaped HTML (a unified view with + / - lines highlighted) for the page."""

from __future__ import annotations

import difflib

from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import ArticleVersion

FIELDS = ("title", "summary", "body")


def _lines(version: ArticleVersion, name: str) -> list[str]:
    return (getattr(version, name) or "").splitlines()


def diff_versions(old: ArticleVersion, new: ArticleVersion, *, context: int = 3) -> dict:
    """{"from": n, "to": m, "fields": {field: [{"op": " "|"+"|"-"|"@", "text": line}, ...]}} for the
    fields that differ; an empty `fields` when the two versions say the same."""
    fields = {}
    for name in FIELDS:
        before, after = _lines(old, name), _lines(new, name)
        if before == after:
            continue
        lines = []
        for line in difflib.unified_diff(before, after, lineterm="", n=context):
            if line.startswith(("---", "+++")):
                continue
            op = "@" if line.startswith("@@") else line[:1]
            lines.append({"op": op, "text": line if op == "@" else line[1:]})
        fields[name] = lines
    return {"from": old.number, "to": new.number, "fields": fields}


CSS = {"+": "diff-add bg-success-subtle", "-": "diff-del bg-danger-subtle", "@": "diff-hunk text-body-secondary",
       " ": "diff-same"}
LABELS = {"title": gettext_lazy("Title"), "summary": gettext_lazy("Summary"), "body": gettext_lazy("Text")}


def diff_html(result: dict):
    """The diff as escaped HTML: one block per changed field, each line marked added, removed or kept."""
    if not result["fields"]:
        return format_html('<p class="text-body-secondary diff-none">{}</p>',
                           _("Versions %(a)s and %(b)s have the same text.") % {"a": result["from"], "b": result["to"]})
    blocks = []
    for name, lines in result["fields"].items():
        rows = format_html_join("", '<div class="{}"><span class="diff-op" aria-hidden="true">{}</span>{}</div>',
                                ((CSS.get(line["op"], "diff-same"), line["op"] if line["op"] in "+-" else " ",
                                  line["text"] or "\u00a0") for line in lines))
        blocks.append(format_html('<h3 class="h6 mt-3">{}</h3><pre class="article-diff border rounded p-2">{}</pre>',
                                  str(LABELS.get(name, name)), rows))
    return format_html_join("", "{}", ((block,) for block in blocks))
