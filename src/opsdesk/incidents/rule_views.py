"""Pages for the rules of the incident process (categories, assignment rules, escalation rules; admins
edit them) and the major-incident tab of an incident with its actions (propose, promote, reject,
roles, stakeholder updates, child incidents) and the manual escalation. Included by urls.py."""

from __future__ import annotations

import functools

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import CIClass
from opsdesk.core.actors import Actor
from opsdesk.core.forms import RecordForm
from opsdesk.core.permissions import RANK, can
from opsdesk.core.views import Column, RecordUI
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.services.forms import ServiceKeysField
from opsdesk.services.models import Service

from . import escalation, major, services
from .assignment import describe_conditions, reassignment_history
from .models import PRIORITIES, AssignmentRule, Category, CommunicationUpdate, EscalationRule, Incident

# --- forms ------------------------------------------------------------------------------------------------


class ConditionsForm(RecordForm):
    """A rule form whose conditions are fields; `service_data()` folds them into `conditions`."""

    categories = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Categories"), required=False, queryset=Category.objects.select_related("parent"),
        help_text=gettext_lazy("Matches the incident's category or subcategory. None chosen: any."),
        widget=forms.SelectMultiple(attrs={"size": 8}))
    services = ServiceKeysField(label=gettext_lazy("Services"),
                                help_text=gettext_lazy("Keys of the affected services, comma separated. Empty: any."))
    ci_classes = forms.ModelMultipleChoiceField(
        label=gettext_lazy("CI classes"), required=False, queryset=CIClass.objects.order_by("name"),
        help_text=gettext_lazy("Matches when any affected CI is of one of these classes. None chosen: any."),
        widget=forms.SelectMultiple(attrs={"size": 8}))
    priorities = forms.MultipleChoiceField(
        label=gettext_lazy("Priorities"), required=False, choices=PRIORITIES,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        help_text=gettext_lazy("None ticked: any priority."))

    CONDITION_FIELDS = {"categories": "category", "services": "service", "ci_classes": "ci_class",
                        "priorities": "priority"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        conditions = (self.instance.conditions or {}) if self.instance.pk else {}
        if conditions:
            self.initial["categories"] = list(Category.objects.filter(slug__in=conditions.get("category", [])))
            self.initial["services"] = list(Service.objects.filter(slug__in=conditions.get("service", [])))
            self.initial["ci_classes"] = list(CIClass.objects.filter(slug__in=conditions.get("ci_class", [])))
            self.initial["priorities"] = conditions.get("priority", [])

    def conditions(self) -> dict:
        data = self.cleaned_data
        found = {
            "category": sorted(c.slug for c in data.get("categories") or []),
            "service": sorted(s.slug for s in data.get("services") or []),
            "ci_class": sorted(c.slug for c in data.get("ci_classes") or []),
            "priority": sorted(data.get("priorities") or []),
        }
        return {key: values for key, values in found.items() if values}

    def service_data(self) -> dict:
        data = {name: value for name, value in super().service_data().items() if name not in self.CONDITION_FIELDS}
        data["conditions"] = self.conditions()
        return data


class CategoryForm(RecordForm):
    class Meta:
        model = Category
        fields = ["name", "slug", "parent", "order", "active", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = Category.objects.filter(parent=None).exclude(pk=self.instance.pk)
        if self.instance.pk:
            self.fields["slug"].disabled = True  # the key is what configuration files and the API refer to

    def service_data(self) -> dict:
        data = super().service_data()
        if self.instance.pk:
            data.pop("slug", None)
        return data


class AssignmentRuleForm(ConditionsForm):
    class Meta:
        model = AssignmentRule
        fields = ["name", "order", "active", "team", "method"]


SLA_METRIC_CHOICES = [("", "—"), ("acknowledge", gettext_lazy("Time to acknowledge")),
                      ("resolve", gettext_lazy("Time to resolve"))]


class EscalationRuleForm(ConditionsForm):
    metric = forms.ChoiceField(label=gettext_lazy("SLA metric"), choices=SLA_METRIC_CHOICES, required=False,
                               help_text=gettext_lazy("For the SLA percentage trigger."))
    notify = forms.MultipleChoiceField(label=gettext_lazy("Notify"), choices=EscalationRule.NOTIFY, required=False,
                                       widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
                                       help_text=gettext_lazy("Of the incident's assignment group (after a "
                                                              "functional escalation: of the new team)."))

    class Meta:
        model = EscalationRule
        fields = ["name", "order", "active", "trigger", "minutes", "metric", "percent", "kind", "target_team",
                  "notify"]
        help_texts = {"minutes": gettext_lazy("For “not acknowledged within N minutes”."),
                      "percent": gettext_lazy("For the SLA percentage trigger; 100 is the breach.")}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = {name: value for name, value in cleaned.items() if name not in self.CONDITION_FIELDS}
        data["conditions"] = self.conditions()
        try:
            self._rule_data = escalation.validate_rule(data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned

    def service_data(self) -> dict:
        return dict(self._rule_data)


# --- the rule pages ---------------------------------------------------------------------------------------

class _ConditionsColumns:
    def render_conditions_text(self, rule):
        return describe_conditions(rule.conditions)

    render_conditions_text.label = gettext_lazy("Conditions")

    def render_active(self, rule):
        return _("Yes") if rule.active else _("No")


class CategoryUI(RecordUI):
    model = Category
    namespace = "incidents"
    path_prefix = "categories/"
    url_prefix = "category_"
    form_class = CategoryForm
    search_fields = ("name", "slug", "description")
    default_sort = "order"
    create_role = "admin"
    edit_role = "admin"
    select_related = ("parent",)
    columns = [
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("slug", gettext_lazy("Key"), sort="slug"),
        Column("parent", gettext_lazy("Parent"), sort="parent__name"),
        Column("order", gettext_lazy("Order"), sort="order"),
        Column("incident_count", gettext_lazy("Incidents"), sort="incident_count"),
        Column("active", gettext_lazy("Active"), sort="active"),
    ]
    detail_fields = ["slug", "parent", "order", "active", "description"]
    create_service = staticmethod(services.create_category)
    update_service = staticmethod(services.update_category)

    @classmethod
    def queryset(cls):
        return Category.objects.select_related("parent").annotate(
            incident_count=Count("incidents", distinct=True) + Count("sub_incidents", distinct=True))

    def render_active(self, category):
        return _("Yes") if category.active else _("No")


class AssignmentRuleUI(_ConditionsColumns, RecordUI):
    model = AssignmentRule
    namespace = "incidents"
    path_prefix = "assignment-rules/"
    url_prefix = "assignmentrule_"
    form_class = AssignmentRuleForm
    search_fields = ("name",)
    default_sort = "order"
    create_role = "admin"
    edit_role = "admin"
    select_related = ("team", "last_assignee")
    columns = [
        Column("order", gettext_lazy("Order"), sort="order"),
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("conditions_text", gettext_lazy("Conditions")),
        Column("team", gettext_lazy("Team"), sort="team__name"),
        Column("method", gettext_lazy("Assignee by"), sort="method"),
        Column("active", gettext_lazy("Active"), sort="active"),
    ]
    detail_fields = ["order", "active", "conditions_text", "team", "method", "last_assignee"]
    create_service = staticmethod(functools.partial(services.create_rule, AssignmentRule))
    update_service = staticmethod(services.update_rule)


class EscalationRuleUI(_ConditionsColumns, RecordUI):
    model = EscalationRule
    namespace = "incidents"
    path_prefix = "escalation-rules/"
    url_prefix = "escalationrule_"
    form_class = EscalationRuleForm
    search_fields = ("name",)
    default_sort = "order"
    create_role = "admin"
    edit_role = "admin"
    select_related = ("target_team",)
    columns = [
        Column("order", gettext_lazy("Order"), sort="order"),
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("conditions_text", gettext_lazy("Conditions")),
        Column("trigger_text", gettext_lazy("Trigger"), sort="trigger"),
        Column("action_text", gettext_lazy("Escalation"), sort="kind"),
        Column("active", gettext_lazy("Active"), sort="active"),
    ]
    detail_fields = ["order", "active", "conditions_text", "trigger_text", "action_text"]
    create_service = staticmethod(functools.partial(services.create_rule, EscalationRule))
    update_service = staticmethod(services.update_rule)

    def render_trigger_text(self, rule):
        if rule.trigger == "no_ack":
            return _("Not acknowledged within %(n)s minutes") % {"n": rule.minutes}
        if rule.trigger == "sla_percent":
            return _("SLA %(metric)s at %(p)s%%") % {"metric": dict(SLA_METRIC_CHOICES).get(rule.metric, rule.metric),
                                                     "p": rule.percent}
        return _("Priority matches")

    render_trigger_text.label = gettext_lazy("Trigger")

    def render_action_text(self, rule):
        labels = dict(EscalationRule.NOTIFY)
        notified = ", ".join(str(labels.get(key, key)) for key in rule.notify or [])
        if rule.kind == "functional":
            text = _("Reassign to %(team)s") % {"team": rule.target_team}
            return f"{text}; {_('notify')} {notified}" if notified else text
        return _("Notify %(who)s") % {"who": notified or "—"}

    render_action_text.label = gettext_lazy("Escalation")


# --- the major-incident tab -----------------------------------------------------------------------------

def _role_candidates(incident: Incident):
    """People offered for the roles: the assignment group's members and everyone holding responder or
    above globally, bounded; the current role holders always."""
    User = get_user_model()  # noqa: N806
    roles = [name for name, rank in RANK.items() if rank >= RANK["responder"]]
    current = [pk for pk in (incident.commander_id, incident.communications_lead_id, incident.scribe_id) if pk]
    condition = Q(role__in=roles) | Q(is_superuser=True) | Q(pk__in=current)
    if incident.assignment_group_id:
        condition |= Q(memberships__team_id=incident.assignment_group_id)
    return User.objects.filter(condition, is_active=True).distinct().order_by("username")[:300]


def major_urls(incident: Incident) -> dict:
    return {name: reverse(f"incidents:major_{name}", args=[incident.pk])
            for name in ("propose", "promote", "reject", "roles", "update", "link")}


def major_tab_context(incident: Incident, request) -> dict:
    """The context of templates/incidents/_tab_major.html (IncidentUI.tab_context("major", ...))."""
    user = request.user
    open_ = incident.is_open
    writable = incident.status not in ("closed", "cancelled")
    is_major = incident.major_status == "major"
    now = timezone.now()
    return {
        "major_urls": major_urls(incident),
        "major_updates": list(incident.updates.select_related("author")[:100]),
        "major_children": list(incident.children.select_related("assignment_group", "assignee").order_by("-id")[:200]),
        "major_parent": incident.parent,
        "major_cadence": major.cadence_of(incident),
        "major_update_overdue": bool(is_major and open_ and incident.next_update_due_at
                                     and incident.next_update_due_at <= now),
        "major_audiences": CommunicationUpdate.AUDIENCES,
        "can_propose_major": open_ and incident.major_status in ("", "rejected") and can(user, "responder", incident),
        "can_promote_major": open_ and not is_major and can(user, "manager", incident),
        "can_reject_major": incident.major_status == "proposed" and can(user, "manager", incident),
        "can_set_major_roles": is_major and writable and can(user, "manager", incident),
        "can_post_major_update": is_major and writable and can(user, "responder", incident),
        "can_link_children": is_major and writable and can(user, "responder", incident),
        "role_candidates": _role_candidates(incident) if open_ and can(user, "manager", incident) else [],
        "escalations": list(escalation.escalations_for(incident)[:50]),
        "reassignments": reassignment_history(incident),
        "can_escalate": open_ and can(user, "responder", incident),
        "escalate_url": reverse("incidents:escalate", args=[incident.pk]),
        "escalation_teams": Team.objects.exclude(pk=incident.assignment_group_id).only("pk", "name")[:300],
    }


class IncidentActionView(LoginRequiredMixin, View):
    """A POST on one incident by a person holding `role` on it. Answers the htmx request with the
    major tab (and the error, if any); a plain form post is redirected back to the tab."""

    role = "responder"

    def act(self, incident: Incident, actor: Actor, post) -> str:
        raise NotImplementedError

    def user_field(self, post, name):
        value = (post.get(name) or "").strip()
        if not value:
            return None
        users = get_user_model().objects.filter(is_active=True)
        user = (users.filter(pk=int(value)) if value.isdigit() else users.filter(username=value)).first()
        if user is None:
            raise ValidationError({name: _("No active user “%(u)s”.") % {"u": value}})
        return user

    def post(self, request, pk, **kwargs):
        incident = get_object_or_404(Incident, pk=pk)
        if not can(request.user, self.role, incident):
            raise PermissionDenied
        error, status = None, 200
        try:
            done = self.act(incident, Actor.for_user(request.user), request.POST)
        except ValidationError as exc:
            error, status = " ".join(exc.messages), 422
        except TransitionNotAllowed as exc:
            error, status = str(exc), 409
        if request.htmx:
            incident = Incident.objects.select_related("parent").get(pk=incident.pk)
            context = {"record": incident, "major_error": error, "major_done": None if error else done,
                       **major_tab_context(incident, request)}
            return render(request, "incidents/_tab_major.html", context, status=status)
        if error:
            messages.error(request, error)
        else:
            messages.success(request, done)
        return redirect(incident.get_absolute_url() + "?tab=major")


def _reason(post) -> str:
    return (post.get("reason") or "").strip()


class ProposeMajorView(IncidentActionView):
    role = "responder"

    def act(self, incident, actor, post):
        major.propose_major(incident, actor=actor, reason=_reason(post))
        return _("%(inc)s was proposed as a major incident.") % {"inc": incident.number}


class PromoteMajorView(IncidentActionView):
    role = "manager"

    def act(self, incident, actor, post):
        cadence = (post.get("update_cadence_minutes") or "").strip()
        if cadence and not cadence.isdigit():
            raise ValidationError({"update_cadence_minutes": _("A whole number of minutes.")})
        major.promote_major(incident, actor=actor, commander=self.user_field(post, "commander"),
                            communications_lead=self.user_field(post, "communications_lead"),
                            scribe=self.user_field(post, "scribe"),
                            update_cadence_minutes=int(cadence) if cadence else None, reason=_reason(post))
        return _("%(inc)s is a major incident.") % {"inc": incident.number}


class RejectMajorView(IncidentActionView):
    role = "manager"

    def act(self, incident, actor, post):
        major.reject_major(incident, actor=actor, reason=_reason(post))
        return _("The major-incident proposal was rejected.")


class MajorRolesView(IncidentActionView):
    role = "manager"

    def act(self, incident, actor, post):
        roles = {name: self.user_field(post, name) for name in major.ROLE_FIELDS if name in post}
        cadence = (post.get("update_cadence_minutes") or "").strip()
        if cadence:
            if not cadence.isdigit():
                raise ValidationError({"update_cadence_minutes": _("A whole number of minutes.")})
            if int(cadence) != incident.update_cadence_minutes:
                roles["update_cadence_minutes"] = int(cadence)
        major.set_roles(incident, actor=actor, **roles)
        return _("The roles were saved.")


class PostUpdateView(IncidentActionView):
    role = "responder"

    def act(self, incident, actor, post):
        major.post_update(incident, actor=actor, body=post.get("body", ""),
                          audience=post.get("audience") or "stakeholders")
        return _("The update was posted.")


class LinkChildView(IncidentActionView):
    role = "responder"

    def act(self, incident, actor, post):
        number = (post.get("child") or "").strip().upper()
        child = Incident.objects.filter(number=number).first() if number else None
        if child is None:
            raise ValidationError({"child": _("No incident with the number “%(n)s”.") % {"n": number}})
        if not can(self.request.user, "responder", child):
            raise PermissionDenied
        major.link_child(incident, child, actor=actor)
        return _("%(child)s was linked.") % {"child": child.number}


class UnlinkChildView(IncidentActionView):
    role = "responder"

    def act(self, incident, actor, post):
        child = get_object_or_404(Incident, pk=self.kwargs["child"], parent=incident)
        if not can(self.request.user, "responder", child):  # the child's team decides too, as for linking
            raise PermissionDenied
        major.unlink_child(child, actor=actor)
        return _("%(child)s was unlinked.") % {"child": child.number}


class EscalateView(IncidentActionView):
    """The manual escalation: to a team (functional) or up the line (hierarchical)."""

    role = "responder"

    def act(self, incident, actor, post):
        team_id = (post.get("team") or "").strip()
        team = None
        if team_id:
            team = Team.objects.filter(pk=team_id if team_id.isdigit() else None).first()
            if team is None:
                raise ValidationError({"team": _("Choose a team.")})
        escalation.escalate_incident(incident, actor=actor, team=team, reason=_reason(post),
                                     notify=[key for key in post.getlist("notify") if key])
        if team is not None:
            return _("%(inc)s was escalated to %(team)s.") % {"inc": incident.number, "team": team}
        done = incident.escalations.first()
        who = ", ".join(done.notified) if done and done.notified else _("nobody (no lead or manager found)")
        return _("%(inc)s was escalated; notified: %(who)s.") % {"inc": incident.number, "who": who}


urlpatterns = [
    *CategoryUI.urls(),
    *AssignmentRuleUI.urls(),
    *EscalationRuleUI.urls(),
    path("<int:pk>/major/propose/", ProposeMajorView.as_view(), name="major_propose"),
    path("<int:pk>/major/promote/", PromoteMajorView.as_view(), name="major_promote"),
    path("<int:pk>/major/reject/", RejectMajorView.as_view(), name="major_reject"),
    path("<int:pk>/major/roles/", MajorRolesView.as_view(), name="major_roles"),
    path("<int:pk>/major/updates/", PostUpdateView.as_view(), name="major_update"),
    path("<int:pk>/major/children/", LinkChildView.as_view(), name="major_link"),
    path("<int:pk>/major/children/<int:child>/unlink/", UnlinkChildView.as_view(), name="major_unlink"),
    path("<int:pk>/escalate/", EscalateView.as_view(), name="escalate"),
]
