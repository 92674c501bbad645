import zoneinfo

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse, reverse_lazy
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.views import View

from opsdesk.core import audit, personal
from opsdesk.core.actors import Actor
from opsdesk.core.models import Subscription
from opsdesk.core.permissions import can
from opsdesk.core.views import Column, RecordUI

from . import services
from .forms import MembershipForm, SubscriptionForm, TeamForm, ThrottledLoginForm, TokenForm
from .models import ApiToken, Membership, Team, User


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = ThrottledLoginForm
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        with transaction.atomic():  # the password and its change-log row together
            response = super().form_valid(form)
            audit.record(self.request.user, actor=Actor.for_user(self.request.user), action="password_change",
                         changes={"password": ["***", "***"]})
        messages.success(self.request, _("Your password was changed."))
        return response


class ProfileView(LoginRequiredMixin, View):
    def get(self, request, token_form=None, subscription_form=None, new_token=None, status=200):
        return render(request, "accounts/profile.html", {
            "tokens": ApiToken.objects.filter(user=request.user),
            "token_form": token_form or TokenForm(),
            "subscriptions": Subscription.objects.filter(user=request.user),
            "subscription_form": subscription_form or SubscriptionForm(),
            "new_token": new_token,
            "memberships": Membership.objects.filter(user=request.user).select_related("team"),
            "time_zones": sorted(zoneinfo.available_timezones()),
        }, status=status)

    def post(self, request):
        actor = Actor.for_user(request.user)
        what = request.POST.get("what")
        if what == "token":
            form = TokenForm(request.POST)
            if not form.is_valid():
                return self.get(request, token_form=form, status=422)
            _token, plaintext = services.create_token(request.user, actor=actor, name=form.cleaned_data["name"],
                                                      scope=form.cleaned_data["scope"], expires_at=form.expires_at())
            # Shown once, in this response only; never stored in plaintext.
            return self.get(request, new_token=plaintext)
        if what == "timezone":
            try:
                services.set_time_zone(request.user, actor=actor, name=request.POST.get("time_zone", "").strip())
                messages.success(request, _("Times are now shown in %(tz)s.") % {"tz": request.user.time_zone})
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            return redirect("accounts:profile")
        if what == "revoke":
            token = get_object_or_404(ApiToken, pk=request.POST.get("token"), user=request.user)
            services.revoke_token(token, actor=actor)
            messages.success(request, _("Token %(name)s was revoked.") % {"name": token.name})
        elif what == "subscribe":
            form = SubscriptionForm(request.POST)
            if not form.is_valid():
                return self.get(request, subscription_form=form, status=422)
            personal.subscribe(request.user, event_type=form.cleaned_data["event_type"],
                               in_app=form.cleaned_data["in_app"], email=form.cleaned_data["email"])
            messages.success(request, _("Subscribed to %(e)s.") % {"e": form.cleaned_data["event_type"]})
        elif what == "unsubscribe":
            personal.unsubscribe(request.user, request.POST.get("subscription"))
            messages.success(request, _("Subscription removed."))
        return redirect("accounts:profile")


class TeamUI(RecordUI):
    model = Team
    namespace = "accounts"
    form_class = TeamForm
    search_fields = ("name", "slug", "description")
    select_related = ("lead",)
    default_sort = "name"
    create_role = "admin"
    edit_role = "manager"
    detail_template = "accounts/team_detail.html"
    columns = [
        Column("name", _("Name"), sort="name", link=True),
        Column("slug", _("Key"), sort="slug"),
        Column("lead__username", _("Lead"), sort="lead__username"),
        Column("email", _("Email")),
    ]
    detail_fields = ["slug", "description", "email", "lead", "member_list"]

    create_service = staticmethod(services.create_team_from)
    update_service = staticmethod(services.update_team_from)

    def extra_context(self, team, user):
        from opsdesk.core.permissions import RANK, ROLES, role_for

        own = role_for(user, team)
        grantable = [(value, label) for value, label in ROLES if own and RANK[value] <= RANK[own]]
        return {"all_users": User.objects.filter(is_active=True).order_by("username"), "grantable_roles": grantable}

    def render_member_list(self, team):
        return format_html_join(", ", "{} ({})", ((m.user.username, m.get_role_display())
                                                  for m in team.memberships.select_related("user"))) or "—"

    render_member_list.label = _("Members")

    path_prefix = "teams/"
    url_prefix = "team_"

    @classmethod
    def urls(cls):
        return [*super().urls(), path("teams/<int:pk>/members/", MembershipView.as_view(), name="team_members")]


class MembershipView(LoginRequiredMixin, View):
    def post(self, request, pk):
        team = get_object_or_404(Team, pk=pk)
        if not can(request.user, "manager", team):
            raise PermissionDenied
        form = MembershipForm(request.POST)
        if form.is_valid():
            try:
                services.set_membership(team, form.cleaned_data["user"], actor=Actor.for_user(request.user),
                                        role=form.cleaned_data["role"] or None, granted_by=request.user)
                messages.success(request, _("Membership updated."))
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
        else:
            messages.error(request, _("Choose a user and a role."))
        return redirect(reverse("accounts:team_detail", args=[team.pk]))
