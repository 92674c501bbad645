"""Approval pages: "My approvals" (my pending approvals and those delegated to me, with Approve / Reject),
the decision POST used by the inbox and by the approval panel on the change page, delegations (mine;
managers for their team's members) and the read-only list of approval policies. Included by urls.py."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.permissions import has_role
from opsdesk.core.views import RoleView, safe_next
from opsdesk.core.workflow import TransitionNotAllowed

from . import approvals
from .models import Approval, ApprovalDelegation, ApprovalPolicy, ApprovalStage, ChangeRequest

PER_PAGE = 50


def change_url(change) -> str:
    """The change page, or "" while the change pages are not wired (they belong to another part)."""
    try:
        return change.get_absolute_url()
    except NoReverseMatch:
        return ""


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approved", gettext_lazy("Approve")), ("rejected", gettext_lazy("Reject"))])
    comment = forms.CharField(label=gettext_lazy("Comment (a reason is required to reject)"), required=False,
                              max_length=2000, widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}))

    def clean(self):
        data = super().clean()
        if data.get("decision") == "rejected" and not (data.get("comment") or "").strip():
            self.add_error("comment", _("Say why the change is rejected."))
        return data


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", attrs={"class": "form-control"}, **kwargs)


class DelegationForm(forms.Form):
    user = forms.ModelChoiceField(label=gettext_lazy("Whose approvals"), queryset=get_user_model().objects.none(),
                                  widget=forms.Select(attrs={"class": "form-select"}))
    delegate = forms.ModelChoiceField(label=gettext_lazy("Delegate"), queryset=get_user_model().objects.none(),
                                      widget=forms.Select(attrs={"class": "form-select"}))
    starts_at = forms.DateTimeField(label=gettext_lazy("From"), widget=DateTimeInput())
    ends_at = forms.DateTimeField(label=gettext_lazy("Until"), widget=DateTimeInput())
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=300,
                             widget=forms.TextInput(attrs={"class": "form-control"}))

    def __init__(self, *args, actor_user=None, **kwargs):
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["delegate"].queryset = users
        # The same rule as approvals.may_manage_delegations_of: oneself, or members of the teams one manages.
        if has_role(actor_user, "admin"):
            self.fields["user"].queryset = users
        else:
            managed = approvals.managed_team_ids(actor_user)
            self.fields["user"].queryset = users.filter(Q(pk=actor_user.pk) | Q(memberships__team_id__in=managed)
                                                        ).distinct()
        self.fields["user"].initial = actor_user.pk


def _inbox_rows(user):
    return (approvals.pending_for(user).select_related("change", "change__owner_team", "approver")
            .order_by("due_at", "id"))


class ApprovalInboxView(RoleView):
    role = "viewer"

    def render_page(self, request, *, errors=None, status=200):
        page = Paginator(_inbox_rows(request.user), PER_PAGE).get_page(request.GET.get("page"))
        now = timezone.now()
        for row in page:
            row.change_url = change_url(row.change)
            row.delegated = row.approver_id != request.user.pk
            row.overdue = row.due_at is not None and row.due_at <= now
            row.form = (errors or {}).get(row.change_id) or DecisionForm(auto_id=f"a{row.pk}-%s")
        decided = list(Approval.objects.filter(decided_by=request.user).select_related("change", "approver")
                       .order_by("-decided_at", "-id")[:20])
        for row in decided:
            row.change_url = change_url(row.change)
        return render(request, "changes/approval_inbox.html", {
            "page": page, "decided": decided, "now": now}, status=status)

    def get(self, request):
        return self.render_page(request)


class ApprovalDecideView(RoleView):
    """POST decision + comment: the acting user's own (or delegated) approval of the change's current stage."""

    role = "viewer"

    def post(self, request, pk):
        change = get_object_or_404(ChangeRequest, pk=pk)
        form = DecisionForm(request.POST)
        back = safe_next(request, change_url(change) or reverse("changes:approval_inbox"))
        if form.is_valid():
            try:
                approvals.decide_for_change(change, actor=self.actor(), decision=form.cleaned_data["decision"],
                                            comment=form.cleaned_data["comment"])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except TransitionNotAllowed as exc:
                messages.error(request, str(exc))
                return redirect(back)
            else:
                change.refresh_from_db()
                text = (_("You approved %(change)s.") if form.cleaned_data["decision"] == "approved"
                        else _("You rejected %(change)s.")) % {"change": change.number}
                messages.success(request, text)
                return redirect(back)
        # Errors next to the fields: the inbox again, this change's form holding them.
        return ApprovalInboxView(request=request).render_page(request, errors={change.pk: form}, status=422)


class DelegationListView(RoleView):
    role = "viewer"

    def render_page(self, request, form=None, status=200):
        user = request.user
        rows = ApprovalDelegation.objects.select_related("user", "delegate", "created_by")
        if not has_role(user, "manager"):
            managed = [team_id for team_id, role in user.memberships.values_list("team_id", "role")
                       if role in ("manager", "admin")]
            rows = rows.filter(Q(user=user) | Q(delegate=user) | Q(user__memberships__team_id__in=managed)).distinct()
        show = request.GET.get("show", "current")
        now = timezone.now()
        if show != "all":
            rows = rows.filter(ends_at__gt=now)
        page = Paginator(rows.order_by("-starts_at", "-id"), PER_PAGE).get_page(request.GET.get("page"))
        for row in page:
            row.active = row.starts_at <= now < row.ends_at
            row.can_end = row.ends_at > now and (approvals.may_manage_delegations_of(user, row.user)
                                                 or row.delegate_id == user.pk)
        return render(request, "changes/approval_delegations.html", {
            "page": page, "show": show, "form": form or DelegationForm(actor_user=user, auto_id="delegation-%s")},
            status=status)

    def get(self, request):
        return self.render_page(request)

    def post(self, request):
        form = DelegationForm(request.POST, actor_user=request.user, auto_id="delegation-%s")
        if form.is_valid():
            data = form.cleaned_data
            try:
                approvals.create_delegation(actor=self.actor(), user=data["user"], delegate=data["delegate"],
                                            starts_at=data["starts_at"], ends_at=data["ends_at"],
                                            reason=data["reason"])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("The delegation was saved."))
                return redirect("changes:delegation_list")
        return self.render_page(request, form, status=422)


class DelegationEndView(RoleView):
    role = "viewer"

    def post(self, request, pk):
        delegation = get_object_or_404(ApprovalDelegation.objects.select_related("user"), pk=pk)
        try:
            approvals.end_delegation(delegation, actor=self.actor())
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("The delegation was ended."))
        return redirect("changes:delegation_list")


class PolicyListView(RoleView):
    role = "viewer"

    def get(self, request):
        policies = ApprovalPolicy.objects.order_by("order", "id").prefetch_related(
            Prefetch("stages", queryset=ApprovalStage.objects.select_related("team").order_by("order")))
        return render(request, "changes/approval_policies.html", {
            "policies": policies, "can_manage": has_role(request.user, "manager")})


urlpatterns = [
    path("approvals/", ApprovalInboxView.as_view(), name="approval_inbox"),
    path("approvals/delegations/", DelegationListView.as_view(), name="delegation_list"),
    path("approvals/delegations/<int:pk>/end/", DelegationEndView.as_view(), name="delegation_end"),
    path("approvals/policies/", PolicyListView.as_view(), name="approval_policies"),
    path("<int:pk>/approval/decide/", ApprovalDecideView.as_view(), name="approval_decide"),
]
