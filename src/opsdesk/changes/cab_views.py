"""CAB pages: the meetings list, a new meeting (managers), the meeting page with its agenda and a decision form
per change, hold / cancel, and the minutes (edit, Markdown download, printable page). Included by urls.py."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.accounts.models import Team
from opsdesk.core import markup
from opsdesk.core.permissions import has_role
from opsdesk.core.views import RoleView
from opsdesk.core.workflow import TransitionNotAllowed

from . import cab
from .approval_views import DateTimeInput, change_url
from .models import CABAgendaItem, CABMeeting
from .workflows import CAB_MEETING_WORKFLOW

PER_PAGE = 50


class MeetingForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200,
                            widget=forms.TextInput(attrs={"class": "form-control"}))
    starts_at = forms.DateTimeField(label=gettext_lazy("Starts"), widget=DateTimeInput())
    ends_at = forms.DateTimeField(label=gettext_lazy("Ends"), required=False, widget=DateTimeInput())
    location = forms.CharField(label=gettext_lazy("Location or link"), max_length=300, required=False,
                               widget=forms.TextInput(attrs={"class": "form-control"}))
    board = forms.ModelChoiceField(label=gettext_lazy("Board (team)"), queryset=Team.objects.order_by("name"),
                                   required=False, widget=forms.Select(attrs={"class": "form-select"}))
    emergency = forms.BooleanField(label=gettext_lazy("Emergency CAB (ECAB): emergency changes only"),
                                   required=False, widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))
    attendees = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Attendees"), required=False,
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        widget=forms.SelectMultiple(attrs={"class": "form-select", "size": 6}))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(d, d) for d in cab.ITEM_DECISIONS])
    notes = forms.CharField(label=gettext_lazy("Notes (required to reject or defer)"), required=False,
                            max_length=2000, widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}))


class MinutesForm(forms.Form):
    minutes = forms.CharField(label=gettext_lazy("Minutes (Markdown)"), required=False, max_length=cab.MAX_MINUTES,
                              widget=forms.Textarea(attrs={"rows": 24, "class": "form-control font-monospace"}))


def _meeting(pk) -> CABMeeting:
    return get_object_or_404(CABMeeting.objects.select_related("board").prefetch_related("attendees"), pk=pk)


class CABListView(RoleView):
    role = "viewer"

    def get(self, request):
        status = request.GET.get("status", "")
        rows = CABMeeting.objects.select_related("board").annotate(item_count=Count("items"))
        if status in CAB_MEETING_WORKFLOW.states:
            rows = rows.filter(status=status)
        page = Paginator(rows.order_by("-starts_at", "-id"), PER_PAGE).get_page(request.GET.get("page"))
        return render(request, "changes/cab_list.html", {
            "page": page, "status": status, "states": CAB_MEETING_WORKFLOW.choices,
            "can_create": has_role(request.user, "manager")})


class CABCreateView(RoleView):
    role = "manager"

    def get(self, request):
        return render(request, "changes/cab_form.html", {"form": MeetingForm(auto_id="cab-%s")})

    def post(self, request):
        form = MeetingForm(request.POST, auto_id="cab-%s")
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if v is not None}
            data["attendees"] = list(form.cleaned_data["attendees"])
            try:
                meeting = cab.create_meeting(actor=self.actor(), data=data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("%(m)s was planned.") % {"m": meeting.number})
                return redirect(meeting.get_absolute_url())
        return render(request, "changes/cab_form.html", {"form": form}, status=422)


def _detail_context(request, meeting, *, errors=None) -> dict:
    items = list(meeting.items.select_related("change", "decided_by").order_by("order", "id"))
    for item in items:
        item.change_url = change_url(item.change)
        item.view = cab.describe(item.summary, item.change)
        item.form = (errors or {}).get(item.pk) or DecisionForm(auto_id=f"item{item.pk}-%s")
    transitions = [t for t in CAB_MEETING_WORKFLOW.available(meeting) if has_role(request.user, t.permission)]
    return {"meeting": meeting, "record": meeting, "items": items, "can_edit": meeting.status == "planned"
            and has_role(request.user, "responder"),
            "can_decide": meeting.status != "cancelled" and has_role(request.user, "viewer"),
            "transitions": transitions,
            # the shared transition dialogs (core/_transition_modals.html) post to these
            "urls": {"transitions": {t.name: reverse("changes:cab_transition", args=[meeting.pk, t.name])
                                     for t in transitions}}}


class CABDetailView(RoleView):
    role = "viewer"

    def get(self, request, pk):
        return render(request, "changes/cab_detail.html", _detail_context(request, _meeting(pk)))


class CABAgendaView(RoleView):
    role = "responder"

    def post(self, request, pk):
        meeting = _meeting(pk)
        try:
            items = cab.generate_agenda(meeting, actor=self.actor())
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("The agenda holds %(n)s changes.") % {"n": len(items)})
        return redirect(meeting.get_absolute_url())


class CABDecideView(RoleView):
    role = "viewer"  # the service decides: an approval is the member's own

    def post(self, request, pk, item_id):
        meeting = _meeting(pk)
        item = get_object_or_404(CABAgendaItem, pk=item_id, meeting=meeting)
        form = DecisionForm(request.POST, auto_id=f"item{item.pk}-%s")
        if form.is_valid():
            try:
                cab.record_decision(item, actor=self.actor(), decision=form.cleaned_data["decision"],
                                    notes=form.cleaned_data["notes"])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except PermissionDenied as exc:
                # Not one of the stage's approvers: say so next to the item, on the meeting page (the API keeps
                # its bare 403).
                form.add_error(None, str(exc) or _("You are not an approver of this change's current stage."))
                return render(request, "changes/cab_detail.html",
                              _detail_context(request, meeting, errors={item.pk: form}), status=403)
            except TransitionNotAllowed as exc:
                messages.error(request, str(exc))
                return redirect(meeting.get_absolute_url())
            else:
                messages.success(request, _("The decision was recorded."))
                return redirect(meeting.get_absolute_url())
        return render(request, "changes/cab_detail.html", _detail_context(request, meeting, errors={item.pk: form}),
                      status=422)


class CABTransitionView(RoleView):
    role = "responder"

    def post(self, request, pk, name):
        meeting = _meeting(pk)
        try:
            transition = CAB_MEETING_WORKFLOW.get(name)
        except TransitionNotAllowed:
            raise Http404
        if not has_role(request.user, transition.permission):
            raise PermissionDenied
        try:
            cab.transition_meeting(meeting, name, actor=self.actor(), data={"reason": request.POST.get("reason", "")})
        except (ValidationError, TransitionNotAllowed) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            messages.success(request, _("%(action)s: done.") % {"action": transition.label})
        return redirect(meeting.get_absolute_url())


def _generated(meeting: CABMeeting) -> str:
    """The minutes generated for a page: times in the viewer's time zone (the zone is said)."""
    return cab.generate_minutes(meeting, tz=timezone.get_current_timezone())


class CABMinutesView(RoleView):
    role = "viewer"

    def render_page(self, request, meeting, form=None, status=200):
        form = form or MinutesForm(initial={"minutes": meeting.minutes or _generated(meeting)},
                                   auto_id="minutes-%s")
        return render(request, "changes/cab_minutes.html", {
            "meeting": meeting, "form": form, "saved": bool(meeting.minutes),
            "can_edit": meeting.status != "cancelled" and cab.may_edit_minutes(request.user, meeting)},
            status=status)

    def get(self, request, pk):
        return self.render_page(request, _meeting(pk))

    def post(self, request, pk):
        meeting = _meeting(pk)
        if not cab.may_edit_minutes(request.user, meeting):  # a manager or an attendee
            raise PermissionDenied
        if request.POST.get("regenerate"):
            form = MinutesForm(initial={"minutes": _generated(meeting)}, auto_id="minutes-%s")
            messages.info(request, _("The minutes were generated again from the agenda; save them to keep them."))
            return self.render_page(request, meeting, form)
        form = MinutesForm(request.POST, auto_id="minutes-%s")
        if form.is_valid():
            try:
                cab.save_minutes(meeting, actor=self.actor(), text=form.cleaned_data["minutes"])
            except (ValidationError, TransitionNotAllowed) as exc:
                form.add_error("minutes", getattr(exc, "messages", [str(exc)]))
            else:
                messages.success(request, _("The minutes were saved."))
                return redirect("changes:cab_minutes", pk=meeting.pk)
        return self.render_page(request, meeting, form, status=422)


class CABMinutesMarkdownView(RoleView):
    role = "viewer"

    def get(self, request, pk):
        meeting = _meeting(pk)
        response = HttpResponse(meeting.minutes or cab.generate_minutes(meeting),  # times in UTC, said
                                content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{meeting.number}-minutes.md"'
        return response


class CABMinutesPrintView(RoleView):
    role = "viewer"

    def get(self, request, pk):
        meeting = _meeting(pk)
        html = markup.render(meeting.minutes or _generated(meeting))
        return render(request, "changes/cab_minutes_print.html", {"meeting": meeting, "html": html})


urlpatterns = [
    path("cab/", CABListView.as_view(), name="cab_list"),
    path("cab/new/", CABCreateView.as_view(), name="cab_create"),
    path("cab/<int:pk>/", CABDetailView.as_view(), name="cab_detail"),
    path("cab/<int:pk>/agenda/", CABAgendaView.as_view(), name="cab_agenda"),
    path("cab/<int:pk>/items/<int:item_id>/decide/", CABDecideView.as_view(), name="cab_decide"),
    path("cab/<int:pk>/transition/<slug:name>/", CABTransitionView.as_view(), name="cab_transition"),
    path("cab/<int:pk>/minutes/", CABMinutesView.as_view(), name="cab_minutes"),
    path("cab/<int:pk>/minutes.md", CABMinutesMarkdownView.as_view(), name="cab_minutes_md"),
    path("cab/<int:pk>/minutes/print/", CABMinutesPrintView.as_view(), name="cab_minutes_print"),
]
