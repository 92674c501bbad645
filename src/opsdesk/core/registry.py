"""What modules exist: navigation areas, record types for the global search and the dashboard,
and config-as-code sections. Each app registers itself in its AppConfig.ready()."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    key: str
    label: str
    url_name: str
    icon: str = "grid"
    order: int = 100
    admin_only: bool = False
    # Pages of the area shown as a menu: ((label, url_name), ...); names that do not resolve are left out.
    children: tuple = ()


@dataclass(frozen=True)
class RecordType:
    model: type
    label: str
    search_fields: tuple[str, ...] = ("name",)
    order: int = 100


AREAS: dict[str, Area] = {}
RECORD_TYPES: list[RecordType] = []


def register_area(area: Area) -> None:
    AREAS[area.key] = area


def register_record_type(record_type: RecordType) -> None:
    if all(r.model is not record_type.model for r in RECORD_TYPES):
        RECORD_TYPES.append(record_type)
        RECORD_TYPES.sort(key=lambda r: r.order)


def areas() -> list[Area]:
    return sorted(AREAS.values(), key=lambda a: a.order)


DEMO_LOADERS: list[tuple[int, object]] = []


def register_demo(order: int, loader) -> None:
    """`loader(actor) -> int` creates demo records if missing and returns how many it created."""
    if all(existing is not loader for _order, existing in DEMO_LOADERS):
        DEMO_LOADERS.append((order, loader))
        DEMO_LOADERS.sort(key=lambda item: item[0])


@dataclass(frozen=True)
class RecordLink:
    """A button on another module's record page: `url(record)` gives its address (or "" for none).
    Lets a module link from records it must not import (the CMDB's service map on a service)."""

    label: str
    url: object
    icon: str = "box-arrow-up-right"
    # The least role that may follow it (a link to a form: "Create problem"); "" for everyone.
    role: str = ""


RECORD_LINKS: dict[type, list[RecordLink]] = {}


def register_record_link(model: type, link: RecordLink) -> None:
    links = RECORD_LINKS.setdefault(model, [])
    if all(existing.label != link.label for existing in links):
        links.append(link)


def record_links(record, user=None) -> list[tuple[RecordLink, str]]:
    """The links of `record`'s page; with `user`, only those whose role the user holds somewhere (globally
    or in a team: the form behind the link checks the chosen team, as core.views.may_create does)."""
    from .permissions import RANK, best_role

    role = best_role(user) if user is not None else None

    def allowed(link) -> bool:
        return not link.role or user is None or (role is not None and RANK[role] >= RANK[link.role])

    return [(link, url) for link in RECORD_LINKS.get(type(record), []) if allowed(link) and (url := link.url(record))]


@dataclass(frozen=True)
class RecordPanel:
    """A side panel on another module's record page (the known errors matching an incident): the page
    includes `template` with the context `context(record, user)` returns, or leaves the panel out when
    it returns None. Lets a module add to pages of records it must not import."""

    key: str
    template: str
    context: object
    order: int = 100


RECORD_PANELS: dict[type, list[RecordPanel]] = {}


def register_record_panel(model: type, panel: RecordPanel) -> None:
    panels = RECORD_PANELS.setdefault(model, [])
    if all(existing.key != panel.key for existing in panels):
        panels.append(panel)
        panels.sort(key=lambda p: p.order)


def record_panels(record, user) -> list[tuple[RecordPanel, dict]]:
    shown = []
    for panel in RECORD_PANELS.get(type(record), []):
        context = panel.context(record, user)
        if context is not None:
            shown.append((panel, context))
    return shown
