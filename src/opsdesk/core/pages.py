"""Pages of the shell that belong to no module: dashboard, global search, notifications, job runs."""

from __future__ import annotations

import datetime

from django.apps import apps
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views import View

from . import personal, search
from .models import AuditEntry, Delivery, JobRun, Notification, OutboxEvent
from .permissions import has_role
from .registry import RECORD_TYPES

SEARCH_LIMIT = 10  # per record type matched by its fields
BEST_LIMIT = 20  # ranked full-text matches
ANSWERS_LIMIT = 5  # knowledge shown above them


class DashboardView(LoginRequiredMixin, View):
    def get(self, request):
        from opsdesk.services.models import Service

        today = timezone.localdate()  # the viewer's time zone, as TruncDate below
        since = timezone.make_aware(datetime.datetime.combine(today - datetime.timedelta(days=13), datetime.time()))
        by_status = dict(Service.objects.values_list("status").annotate(n=Count("id")))
        by_tier = dict(Service.objects.exclude(status="retired").values_list("tier").annotate(n=Count("id")))
        per_day = dict(
            AuditEntry.objects.filter(timestamp__gte=since)
            .annotate(day=TruncDate("timestamp")).values_list("day").annotate(n=Count("id"))
        )
        days = [today - datetime.timedelta(days=13 - i) for i in range(14)]
        chart = {
            "tiers": {"labels": [_("Tier %(n)s") % {"n": t} for t in range(1, 5)],
                      "values": [by_tier.get(t, 0) for t in range(1, 5)]},
            "activity": {"labels": [d.strftime("%d %b") for d in days],
                         "values": [per_day.get(d, 0) for d in days]},
        }
        context = {
            "service_counts": {"active": by_status.get("active", 0), "planned": by_status.get("planned", 0),
                               "retired": by_status.get("retired", 0)},
            "tier1_active": Service.objects.filter(tier=1, status="active").select_related("owner_team")[:8],
            # Only the record types of the catalogue: tokens, users and channels are nobody else's business.
            "recent_changes": AuditEntry.objects.select_related("content_type")
            .filter(content_type__in=[ContentType.objects.get_for_model(r.model) for r in RECORD_TYPES])[:12],
            "chart_data": chart,
            "failed_jobs": JobRun.objects.filter(status="failed", started_at__gte=since).count(),
            "pending_deliveries": Delivery.objects.filter(status="pending").count(),
        }
        if apps.is_installed("opsdesk.incidents"):  # the incident cards: open, breaching, MTTA and MTTR
            from opsdesk.incidents import kpis

            context["incidents"] = kpis.dashboard()
        return render(request, "core/dashboard.html", context)


def _state_labels(model) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in model._meta.get_field("status").choices or ()}
    except Exception:  # noqa: BLE001  (a record type without a status field)
        return {}


class SearchView(LoginRequiredMixin, View):
    """One box for every record type the user may see. A number (SVC-7, INC-42) opens that record;
    otherwise the full-text index (core.search) gives the ranked "Best matches" across the record
    types it holds (incidents, problems, known errors, articles ...), and the other types (services,
    CIs, teams ...) are matched on their number and search fields, a group each."""

    def get(self, request):
        q = request.GET.get("q", "").strip()[:200]
        context = {"q": q, "answers": [], "best": [], "groups": []}
        if not q:
            return render(request, "core/search.html", context)
        user = request.user
        visible = [r for r in RECORD_TYPES if search.may_view(user, r.model)]
        if "-" in q:  # looks like a number (SVC-7): open the record itself
            for record_type in visible:
                if "number" in {f.name for f in record_type.model._meta.get_fields()}:
                    exact = record_type.model.objects.filter(number__iexact=q).only("pk", "number").first()
                    if exact is not None:
                        return redirect(exact.get_absolute_url())
        indexed = [i for i in search.indexers() if search.may_view(user, i.model)]
        if indexed:
            kinds = {i.kind: (capfirst(str(i.model._meta.verbose_name)), _state_labels(i.model)) for i in indexed}
            # Knowledge first (KCS): published articles and active known errors that answer the question,
            # then every record ranked, without the ones already shown above.
            answers = search.answers(q, user=user, limit=ANSWERS_LIMIT)
            shown = {hit.entry_id for hit in answers}
            hits = [hit for hit in search.query(q, kinds=[i.kind for i in indexed], limit=BEST_LIMIT + len(shown))
                    if hit.entry_id not in shown][:BEST_LIMIT]
            for hit in (*answers, *hits):
                badge, states = kinds.get(hit.kind, (hit.kind, {}))
                hit.extra = {"badge": badge, "state_label": states.get(hit.state, hit.state.replace("_", " "))}
            context["answers"], context["best"] = answers, hits
        for record_type in visible:
            model = record_type.model
            if search.is_indexed(model):
                continue
            names = {f.name for f in model._meta.get_fields()}
            condition = Q(number__icontains=q) if "number" in names else Q()
            for field in record_type.search_fields:
                condition |= Q(**{f"{field}__icontains": q})
            matches = list(model.objects.filter(condition).order_by("-id")[:SEARCH_LIMIT + 1])
            if matches:
                context["groups"].append({"label": record_type.label, "items": matches[:SEARCH_LIMIT],
                                          "more": len(matches) > SEARCH_LIMIT})
        return render(request, "core/search.html", context)


class NotificationsView(LoginRequiredMixin, View):
    def get(self, request):
        page = Paginator(Notification.objects.filter(user=request.user).select_related("event"), 50)\
            .get_page(request.GET.get("page"))
        return render(request, "core/notifications.html", {"page": page})

    def post(self, request):
        if request.POST.get("id"):
            if not request.POST["id"].isdigit():
                raise Http404
            notification = get_object_or_404(Notification, user=request.user, pk=request.POST["id"])
            personal.mark_read(request.user, notification.pk)
            if notification.url and notification.url.startswith("/"):
                return redirect(notification.url)
        else:
            personal.mark_read(request.user)
        return redirect("notifications")


class JobsView(LoginRequiredMixin, View):
    def get(self, request):
        if not has_role(request.user, "manager"):
            raise PermissionDenied
        runs = JobRun.objects.all()
        status = request.GET.get("status")
        if status in dict(JobRun.STATUSES):
            runs = runs.filter(status=status)
        page = Paginator(runs, 50).get_page(request.GET.get("page"))
        summary = list(JobRun.objects.filter(started_at__gte=timezone.now() - datetime.timedelta(days=1))
                       .values("task_name").annotate(runs=Count("id"), failed=Count("id", filter=Q(status="failed")))
                       .order_by("task_name"))
        return render(request, "core/jobs.html", {
            "page": page, "status": status, "statuses": JobRun.STATUSES, "summary": summary,
            "outbox_pending": OutboxEvent.objects.filter(dispatched_at__isnull=True).count(),
            "deliveries": Delivery.objects.select_related("event", "channel")[:20],
        })


