"""The htmx endpoints of the incident pages: quick actions answered with the queue row, news of new
incidents, the saved views' counts, applying the CMDB's proposed impact, and the form helpers
(subcategories, assignees, the priority preview)."""

from __future__ import annotations

import datetime
import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.views import View

from opsdesk.accounts.models import Team
from opsdesk.core.permissions import can, has_role
from opsdesk.core.views import UIView, may_create
from opsdesk.core.workflow import TransitionNotAllowed

from . import services
from .filters import IncidentFilterSet
from .forms import ResolveForm, members_of, priority_preview
from .models import Category, Incident
from .views import IncidentUI, my_teams, row_actions, views_context
from .workflows import INCIDENT_WORKFLOW


def _row_response(request, ui, incident, *, status=200, error=None, notice=None):
    ui.user = request.user
    incident = ui.queryset().get(pk=incident.pk)
    ui.load_timers([incident])
    context = {"ui": ui, "record": incident, "cells": [(c, c.value(ui, incident)) for c in ui.columns],
               "actions": row_actions(request.user, incident, my_teams(request.user)), "any_actions": True,
               "can_bulk_edit": may_create(request.user, ui), "error": error, "notice": notice}
    response = render(request, "incidents/_row.html", context, status=status)
    if notice or error:  # shown by incidents.js in the page's message area
        response["HX-Trigger"] = json.dumps({"opsdesk:notice": {"text": str(notice or error),
                                                                "level": "danger" if error else "success"}})
    return response


class QuickActionView(UIView):
    """Acknowledge, take (assign to me) and resolve from a queue row, answered with the row itself (and
    a message out of band). Without htmx, the same POSTs redirect back with a message."""

    ACTIONS = ("acknowledge", "take", "resolve")

    def get(self, request, pk, action=None):
        ui = self.ui()
        incident = self.get_record(pk)
        if not has_role(request.user, ui.view_role):
            raise PermissionDenied
        if action is None:
            return _row_response(request, ui, incident)
        if action != "resolve":
            raise Http404
        if not can(request.user, INCIDENT_WORKFLOW.get("resolve").permission, incident):
            raise PermissionDenied
        return render(request, "incidents/_row_resolve.html", {
            "ui": ui, "record": incident, "form": ResolveForm(auto_id=f"r{incident.pk}-%s"),
            "colspan": len(ui.columns) + 2})

    def post(self, request, pk, action=None):
        if action not in self.ACTIONS:
            raise Http404
        ui = self.ui()
        incident = self.get_record(pk)
        actor = self.actor()
        try:
            if action == "take":
                if not can(request.user, ui.edit_role, incident):
                    raise PermissionDenied
                services.assign_incident(incident, actor=actor, assignee=request.user)
                notice = _("%(inc)s is yours.") % {"inc": incident.number}
            else:
                if not can(request.user, INCIDENT_WORKFLOW.get(action).permission, incident):
                    raise PermissionDenied
                data = {}
                if action == "resolve":
                    form = ResolveForm(request.POST, auto_id=f"r{incident.pk}-%s")
                    if not form.is_valid():
                        if request.htmx:
                            return render(request, "incidents/_row_resolve.html", {
                                "ui": ui, "record": incident, "form": form, "colspan": len(ui.columns) + 2},
                                status=422)
                        raise ValidationError(form.errors.as_text())
                    data = form.cleaned_data
                services.transition_incident(incident, action, actor=actor, data=data)
                notice = _("%(inc)s: %(action)s done.") % {"inc": incident.number,
                                                            "action": INCIDENT_WORKFLOW.get(action).label}
        except (ValidationError, TransitionNotAllowed) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            if not request.htmx:
                messages.error(request, text)
                return self._back(request, incident)
            return _row_response(request, ui, incident, status=422, error=text)
        if not request.htmx:
            messages.success(request, notice)
            return self._back(request, incident)
        return _row_response(request, ui, incident, notice=notice)

    def _back(self, request, incident):
        back = request.POST.get("next", "")
        if not back.startswith("/") or back.startswith("//"):
            back = incident.get_absolute_url()
        return HttpResponseRedirect(back)


NEWS_MAX = 1000  # incidents changed between two polls (30 s) that the banner counts; more reads "1000"


class QueueNewsView(UIView):
    """Polled by the queue every 30 s: how many incidents matching its filters were opened, or changed
    by someone else, since the table was drawn."""

    def get(self, request):
        if not has_role(request.user, self.ui.view_role):
            raise PermissionDenied
        since = parse_datetime(request.GET.get("since", "")) or timezone.now()
        if timezone.is_naive(since):
            since = timezone.make_aware(since, datetime.UTC)
        # The few incidents touched since `since` first, by the updated_at index; the filters then look
        # at those rows only (a planner left alone may walk every open incident by its status instead).
        touched = list(Incident.objects.filter(updated_at__gt=since).order_by().values_list("pk", flat=True)
                       [:NEWS_MAX])
        filterset = IncidentFilterSet(request.GET, queryset=Incident.objects.filter(pk__in=touched), request=request)
        queryset = filterset.qs if filterset.is_valid() else Incident.objects.none()
        counts = queryset.aggregate(
            new=Count("id", filter=Q(created_at__gt=since)),
            changed=Count("id", filter=Q(created_at__lte=since) & ~Q(updated_by=request.user)))
        params = request.GET.copy()
        params.pop("since", None)
        return render(request, "incidents/_news.html", {
            "new": counts["new"], "changed": counts["changed"], "since": since.isoformat(),
            "query": params.urlencode(), "list_url": reverse("incidents:list")})


class QueueViewsView(UIView):
    """The saved-view tabs with their counts, loaded after the queue (the counts are one more query the
    queue itself does not wait for)."""

    def get(self, request):
        if not has_role(request.user, self.ui.view_role):
            raise PermissionDenied
        return render(request, "incidents/_views.html", views_context(request, counts=True))


class ApplyImpactView(UIView):
    """Take the impact the CMDB proposed (an ordinary edit: the matrix sets the priority again)."""

    def post(self, request, pk):
        incident = self.get_record(pk)
        if not can(request.user, self.ui.edit_role, incident):
            raise PermissionDenied
        if incident.proposed_impact:
            try:
                services.update_incident(incident, actor=self.actor(), data={"impact": incident.proposed_impact})
                messages.success(request, _("The impact was raised to %(i)s.") % {"i": incident.proposed_impact})
            except (ValidationError, TransitionNotAllowed) as exc:
                messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        return HttpResponseRedirect(incident.get_absolute_url())


# --- htmx endpoints of the form -------------------------------------------------------------------------

class _FormHelperView(View):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


def _options(items, selected=None, blank="---------") -> HttpResponse:
    html = format_html('<option value="">{}</option>', blank) + format_html_join(
        "", '<option value="{}"{}>{}</option>', ((pk, " selected" if str(pk) == str(selected) else "", label)
                                                 for pk, label in items))
    return HttpResponse(html)


class SubcategoryOptionsView(_FormHelperView):
    def get(self, request):
        category = request.GET.get("category", "")
        items = Category.objects.filter(parent_id=category, active=True).values_list("pk", "name") \
            if category.isdigit() else []
        return _options(items)


class AssigneeOptionsView(_FormHelperView):
    def get(self, request):
        value = request.GET.get("assignment_group", "")
        team = Team.objects.filter(pk=value).first() if value.isdigit() else None
        return _options(((u.pk, u.username) for u in members_of(team).only("id", "username")),
                        selected=request.GET.get("assignee"))


class PriorityPreviewView(_FormHelperView):
    def get(self, request):
        return HttpResponse(priority_preview(request.GET.get("impact"), request.GET.get("urgency"),
                                             request.GET.get("priority", "")))


urlpatterns = [
    path("news/", QueueNewsView.as_view(ui=IncidentUI), name="queue_news"),
    path("views/", QueueViewsView.as_view(ui=IncidentUI), name="queue_views"),
    path("<int:pk>/row/", QuickActionView.as_view(ui=IncidentUI), name="row"),
    path("<int:pk>/row/<slug:action>/", QuickActionView.as_view(ui=IncidentUI), name="quick"),
    path("<int:pk>/apply-impact/", ApplyImpactView.as_view(ui=IncidentUI), name="apply_impact"),
    path("form/subcategories/", SubcategoryOptionsView.as_view(), name="form_subcategories"),
    path("form/assignees/", AssigneeOptionsView.as_view(), name="form_assignees"),
    path("form/priority/", PriorityPreviewView.as_view(), name="form_priority"),
]
