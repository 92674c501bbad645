"""The review pages: writing the post-implementation review of a change (/changes/<pk>/review/), marking an
incident as caused by a change and taking the mark away (from the change's review panel or the incident's
"Recent changes" panel), and the change KPIs (/changes/kpis/?months=3|6|12). Thin: parse, authorize, call
`reviews`."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from opsdesk.core.permissions import can
from opsdesk.core.views import RoleView, safe_next
from opsdesk.core.workflow import TransitionNotAllowed

from . import reviews
from .models import ChangeRequest, PostImplementationReview


class ReviewForm(forms.Form):
    objectives = forms.ChoiceField(label=gettext_lazy("Were the objectives met?"),
                                   choices=PostImplementationReview.OBJECTIVES, widget=forms.RadioSelect)
    summary = forms.CharField(label=gettext_lazy("What happened"), max_length=reviews.MAX_SUMMARY,
                              widget=forms.Textarea(attrs={"rows": 5, "class": "form-control"}))
    lessons = forms.CharField(label=gettext_lazy("Lessons learned"), required=False, max_length=reviews.MAX_SUMMARY,
                              widget=forms.Textarea(attrs={"rows": 4, "class": "form-control"}))
    follow_ups = forms.CharField(label=gettext_lazy("Follow-up actions"), required=False,
                                 max_length=reviews.MAX_SUMMARY,
                                 widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}))


class MarkCausedForm(forms.Form):
    incident = forms.CharField(label=gettext_lazy("Incident number"), max_length=32)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=500)

    def clean_incident(self):
        from opsdesk.incidents.models import Incident

        number = self.cleaned_data["incident"].strip().upper()
        incident = Incident.objects.filter(number=number).first()
        if incident is None:
            raise ValidationError(_("No incident with the number %(n)s.") % {"n": number})
        return incident


class ReviewView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.change = get_object_or_404(ChangeRequest.objects.select_related("owner_team"), pk=kwargs["pk"])
        if not can(request.user, "viewer", self.change):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def render_form(self, form, status=200):
        review = PostImplementationReview.objects.filter(change=self.change).select_related("reviewer").first()
        return render(self.request, "changes/review_form.html", {
            "change": self.change, "form": form, "review": review,
            "reasons": reviews.review_reasons(self.change), "required": reviews.review_required(self.change),
            "retrospective": reviews.is_retrospective(self.change),
            "can_write": can(self.request.user, reviews.REVIEW_ROLE, self.change) and self.change.status == "review",
        }, status=status)

    def get(self, request, pk):
        review = PostImplementationReview.objects.filter(change=self.change).first()
        initial = {k: getattr(review, k) for k in ("objectives", "summary", "lessons", "follow_ups")} if review else {}
        return self.render_form(ReviewForm(initial=initial))

    def post(self, request, pk):
        if not can(request.user, reviews.REVIEW_ROLE, self.change):
            raise PermissionDenied
        form = ReviewForm(request.POST)
        if not form.is_valid():
            return self.render_form(form, status=400)
        try:
            reviews.record_review(self.change, actor=_actor(request), data=form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.render_form(form, status=400)
        except TransitionNotAllowed as exc:
            form.add_error(None, str(exc))
            return self.render_form(form, status=409)
        messages.success(request, _("The review of %(number)s was saved.") % {"number": self.change.number})
        return HttpResponseRedirect(self.change.get_absolute_url())


def _actor(request):
    from opsdesk.core.actors import Actor

    return Actor.for_user(request.user)


class MarkCausedView(LoginRequiredMixin, View):
    """POST incident=INC-n (note): the incident was caused by this change. A responder of the change's team
    or of the incident's team may mark it."""

    def post(self, request, pk):
        change = get_object_or_404(ChangeRequest, pk=pk)
        back = safe_next(request, change.get_absolute_url())
        form = MarkCausedForm(request.POST)
        if not form.is_valid():
            if not can(request.user, reviews.MARK_ROLE, change):
                raise PermissionDenied
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return HttpResponseRedirect(back)
        incident = form.cleaned_data["incident"]
        if not (can(request.user, reviews.MARK_ROLE, change) or can(request.user, reviews.MARK_ROLE, incident)):
            raise PermissionDenied
        try:
            reviews.mark_caused(change, incident, actor=_actor(request), note=form.cleaned_data["note"])
            messages.success(request, _("%(incident)s is marked as caused by %(change)s.")
                             % {"incident": incident.number, "change": change.number})
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(back)


class UnmarkCausedView(LoginRequiredMixin, View):
    def post(self, request, pk, incident_pk):
        from opsdesk.incidents.models import Incident

        change = get_object_or_404(ChangeRequest, pk=pk)
        incident = get_object_or_404(Incident, pk=incident_pk)
        if not (can(request.user, reviews.MARK_ROLE, change) or can(request.user, reviews.MARK_ROLE, incident)):
            raise PermissionDenied
        if reviews.unmark_caused(change, incident, actor=_actor(request)):
            messages.success(request, _("%(incident)s is no longer marked as caused by %(change)s.")
                             % {"incident": incident.number, "change": change.number})
        return HttpResponseRedirect(safe_next(request, change.get_absolute_url()))


class KPIView(RoleView):
    role = "viewer"

    def get(self, request):
        raw = request.GET.get("months") or "6"
        if raw not in {str(m) for m in reviews.KPI_MONTHS}:
            return render(request, "changes/kpi_page.html", {
                "error": _("Choose 3, 6 or 12 months."), "periods": reviews.KPI_MONTHS, "months": None}, status=400)
        figures = reviews.success_rates(int(raw))
        return render(request, "changes/kpi_page.html", {"figures": figures, "periods": reviews.KPI_MONTHS,
                                                         "months": int(raw)})


urlpatterns = [
    path("kpis/", KPIView.as_view(), name="kpis"),
    path("<int:pk>/review/", ReviewView.as_view(), name="review"),
    path("<int:pk>/caused/", MarkCausedView.as_view(), name="mark_caused"),
    path("<int:pk>/caused/<int:incident_pk>/remove/", UnmarkCausedView.as_view(), name="unmark_caused"),
]
