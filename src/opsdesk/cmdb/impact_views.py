"""The service map: a CI's neighbourhood (/cmdb/<pk>/map/) or a service's supporting CIs and what they
depend on (/cmdb/map/?service=<slug>), drawn as an interactive graph by static/opsdesk/service_map.js
(cytoscape.js). The same views answer `?format=json` with the data the page embeds; a CI's map with
`?simulate=1&format=json` adds what the CI's failure impacts (fetched by "Simulate failure").

Edges point the way a failure travels (from the failing node to the one it impacts) and read that way
("cluster runs shop-app"). On a CI's map, "Simulate failure" highlights what the CI's failure would
impact (the downstream analysis, with redundancy).
"""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from opsdesk.core.permissions import has_role
from opsdesk.services.models import Service
from opsdesk.services.workflows import SERVICE_WORKFLOW

from .impact import SERVICE, analyse, load_details
from .models import ConfigurationItem
from .workflows import CI_WORKFLOW

MAP_DEPTHS = (1, 2, 3, 4, 5)
DEFAULT_CI_DEPTH = 2
DEFAULT_SERVICE_DEPTH = 3
MAX_MAP_NODES = 250  # nearest first; a bigger map is unreadable and slow to lay out

# Status colours (Bootstrap's palette): in service green, maintenance amber, not yet in service greys
# and blues. Impacted nodes turn red when a failure is simulated.
STATUS_COLOURS = {
    "in_production": "#198754", "maintenance": "#ffc107", "planned": "#ced4da", "ordered": "#9ec5fe",
    "in_stock": "#6ea8fe", "retired": "#6c757d", "disposed": "#343a40", "active": "#198754",
}
IMPACTED_COLOUR = "#dc3545"
DEGRADED_COLOUR = "#fd7e14"  # a redundant CI that lost members but stays up
ROOT_COLOUR = "#0d6efd"


def build_map(*, ci: ConfigurationItem | None = None, service: Service | None = None, depth: int,
              simulate: bool = False) -> dict:
    """Nodes and edges within `depth` of the CI (both directions) or of the service (what it depends on),
    nearest first and at most MAX_MAP_NODES. `simulate` (a CI's map): also what the CI's failure impacts.
    The page asks for that only when the user presses "Simulate failure": for a core switch it is the
    biggest analysis there is."""
    roots = {"cis": [ci] if ci else [], "services": [service] if service else []}
    walks = [analyse(**roots, direction="upstream", depth=depth, collect_edges=True, details=False)]
    if ci is not None:
        walks.append(analyse(**roots, direction="downstream", depth=depth, redundancy=False, collect_edges=True,
                             details=False))
    distance = dict.fromkeys(walks[0].roots, 0)
    side = dict.fromkeys(walks[0].roots, "root")
    for walk in walks:
        for key, impact in walk.impacted.items():
            if key not in distance or impact.depth < distance[key]:
                distance[key], side[key] = impact.depth, walk.direction
    keys = sorted(distance, key=lambda k: (distance[k], k))[:MAX_MAP_NODES]
    shown = set(keys)
    failure = analyse(**roots, details=False) if ci is not None and simulate else None
    services_hit = failure.ordered(SERVICE) if failure else []
    details = load_details([*keys, *services_hit])
    nodes = []
    for key in keys:
        d = details.get(key)
        if d is not None:
            nodes.append({
                "id": _node_id(key), "kind": key[0], "pk": key[1], "number": d["number"], "name": d["name"],
                "label": f"{d['number']}\n{d['name']}", "status": d["status"], "statusLabel": d["status_label"],
                "className": d.get("class_name") or _("Service"), "url": d["url"], "root": distance[key] == 0,
                "side": side[key], "distance": distance[key], "colour": STATUS_COLOURS.get(d["status"], "#adb5bd")})
    edges = {}
    for walk in walks:
        for source, target, label in walk.edges:
            if source in shown and target in shown:
                if (target, source, label) in edges:  # a "both" link met both ways: one line, two arrows
                    edges[(target, source, label)]["both"] = True
                    continue
                ends = _node_id(source), _node_id(target)
                edges.setdefault((source, target, label), {"id": f"{ends[0]}>{ends[1]}:{label}", "source": ends[0],
                                                           "target": ends[1], "label": label, "both": False})
    return {
        "depth": depth, "nodes": nodes, "edges": sorted(edges.values(), key=lambda e: e["id"]),
        "truncated": len(distance) > MAX_MAP_NODES, "total": len(distance), "maxNodes": MAX_MAP_NODES,
        "colours": {"impacted": IMPACTED_COLOUR, "root": ROOT_COLOUR, "degraded": DEGRADED_COLOUR},
        "failure": _failure(failure, shown, services_hit, details) if failure else None,
    }


def _node_id(key) -> str:
    return f"{key[0]}-{key[1]}"


def _failure(failure, shown: set, services_hit: list, details: dict) -> dict:
    """What the page shows of a simulated failure: the impacted and degraded nodes on the map, the
    impacted services (all of them) and a sentence that sums it up."""
    cis, services = len(failure.impacted_ci_ids), len(services_hit)
    outside = len(set(failure.impacted) - shown)
    summary = [ngettext("%(n)s CI impacted", "%(n)s CIs impacted", cis) % {"n": cis} + ", "
               + ngettext("%(n)s service impacted.", "%(n)s services impacted.", services) % {"n": services}]
    if outside:
        summary.append(ngettext("%(n)s of them is beyond this map.", "%(n)s of them are beyond this map.", outside)
                       % {"n": outside})
    if failure.degraded:
        summary.append(ngettext("%(n)s redundant CI loses members but stays up.",
                                "%(n)s redundant CIs lose members but stay up.", len(failure.degraded))
                       % {"n": len(failure.degraded)})
    return {
        "cis": cis, "services": services, "outside": outside, "degraded": len(failure.degraded),
        "summary": " ".join(summary),
        "impacted": sorted(_node_id(k) for k in failure.impacted if k in shown),
        "degradedNodes": sorted(_node_id(k) for k in failure.degraded if k in shown),
        "servicesHit": [{"number": details[k]["number"], "name": details[k]["name"], "url": details[k]["url"],
                         "tier": details[k]["tier"], "tierLabel": _("Tier %(tier)s") % {"tier": details[k]["tier"]}}
                        for k in services_hit if k in details],
    }


def _legend() -> list[dict]:
    shown_ci = [s for s in CI_WORKFLOW.states if s not in ("retired", "disposed")]
    items = [{"colour": STATUS_COLOURS[s], "label": CI_WORKFLOW.states[s], "shape": "ci"} for s in shown_ci]
    items += [{"colour": STATUS_COLOURS[s], "shape": "service",
               "label": _("Service: %(status)s") % {"status": SERVICE_WORKFLOW.states[s]}}
              for s in SERVICE_WORKFLOW.states if s != "retired"]
    return items


class MapPage(LoginRequiredMixin, View):
    default_depth = DEFAULT_CI_DEPTH

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not has_role(request.user, "viewer"):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def depth(self) -> int:
        try:
            depth = int(self.request.GET.get("depth", ""))
        except ValueError:
            return self.default_depth
        return depth if depth in MAP_DEPTHS else self.default_depth

    def answer(self, context: dict):
        if self.request.GET.get("format") == "json":
            return JsonResponse(context["map"])
        context["simulate_url"] = f"{self.request.path}?depth={context['depth']}&simulate=1&format=json"
        context.update({"depths": MAP_DEPTHS, "legend": _legend(), "impacted_colour": IMPACTED_COLOUR,
                        "root_colour": ROOT_COLOUR, "degraded_colour": DEGRADED_COLOUR})
        return render(self.request, "cmdb/service_map.html", context)


class CIMapView(MapPage):
    def get(self, request, pk):
        ci = get_object_or_404(ConfigurationItem.objects.select_related("ci_class"), pk=pk)
        depth = self.depth()
        simulate = request.GET.get("simulate") == "1"
        return self.answer({"ci": ci, "depth": depth, "map": build_map(ci=ci, depth=depth, simulate=simulate),
                            "title": _("Service map of %(ci)s") % {"ci": ci}})


class ServiceMapView(MapPage):
    default_depth = DEFAULT_SERVICE_DEPTH

    def get(self, request):
        slug = request.GET.get("service", "").strip()
        if not slug:
            services = Service.objects.exclude(status="retired").order_by("name").only("pk", "name", "slug", "number")
            return render(request, "cmdb/service_map.html", {"services": services, "title": _("Service map")})
        service = get_object_or_404(Service, slug=slug)
        depth = self.depth()
        return self.answer({"service": service, "depth": depth, "map": build_map(service=service, depth=depth),
                            "title": _("Service map of %(service)s") % {"service": service}})


urlpatterns = [
    path("<int:pk>/map/", CIMapView.as_view(), name="ci_map"),
    path("map/", ServiceMapView.as_view(), name="map"),
]
