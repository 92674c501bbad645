"""Markdown for comments and descriptions, rendered then sanitised (no scripts, no event handlers)."""

import markdown as md
import nh3
from django.utils.safestring import mark_safe

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "span",
}
# No <img>: the CSP allows images from this site only, and remote images would let a comment track
# its readers. Markdown images are dropped; attach pictures instead.
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"},
                      "td": {"align"}}


def render(text: str) -> str:
    html = md.markdown(text or "", extensions=["fenced_code", "tables", "sane_lists", "nl2br"])
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")


def render_safe(text: str):
    return mark_safe(render(text))  # noqa: S308  (sanitised by nh3 above)
