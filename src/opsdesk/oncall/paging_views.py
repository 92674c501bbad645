"""Pages of paging: the signed acknowledge / resolve links (no login), an incident's escalation runs and
pages, and "My paging settings" (contact methods with a test button, notification rules per urgency;
managers may edit anyone's)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from opsdesk.core.actors import Actor
from opsdesk.core.permissions import can, has_role
from opsdesk.core.workflow import TransitionNotAllowed

from . import escalation, links, paging
from .models import URGENCIES, ContactMethod, EscalationPolicy, EscalationRun, NotificationRule, Page

# --- signed links -------------------------------------------------------------------------------------------


def _link_error(request, message: str, status: int):
    return render(request, "oncall/link_error.html", {"message": message}, status=status)


@method_decorator(never_cache, name="dispatch")
@method_decorator(csrf_exempt, name="dispatch")
class PageLinkView(View):
    """GET shows what the link would do and a button (mail scanners fetch links: GET never acts);
    POST does it once, as the person the page went to, without a login.

    No CSRF check: the signed single-use token in the URL is the credential (the session is not used), and
    with "Referrer-Policy: no-referrer" browsers post "Origin: null", which Django's check rejects."""

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        # The token is a credential: no Referer carries it to a page linked from here, no index keeps it.
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex"
        return response

    def get(self, request, token):
        try:
            link = links.read(token)
        except links.LinkError as error:
            return _link_error(request, str(error), error.status)
        return render(request, "oncall/link_confirm.html", {"link": link, "incident": link["incident"]})

    def post(self, request, token):
        try:
            incident = links.use(token)
        except links.LinkError as error:
            return _link_error(request, str(error), error.status)
        except (TransitionNotAllowed, ValidationError) as error:
            message = str(error) if isinstance(error, TransitionNotAllowed) else " ".join(error.messages)
            return _link_error(request, message, 409)
        return render(request, "oncall/link_done.html", {"incident": incident})


# --- an incident's paging -----------------------------------------------------------------------------------


def _incident_or_404(pk):
    from opsdesk.incidents.models import Incident

    return get_object_or_404(Incident.objects.select_related("service"), pk=pk)


class IncidentPagingView(LoginRequiredMixin, View):
    """The escalation runs of one incident with the people each step paged and how; responders start a
    policy by hand or stop the running one."""

    def get(self, request, pk):
        incident = _incident_or_404(pk)
        if not can(request.user, "viewer", incident):
            raise PermissionDenied
        runs = (EscalationRun.objects.filter(incident=incident).select_related("policy")
                .prefetch_related(Prefetch("pages", queryset=Page.objects.select_related("user")
                                           .order_by("cycle", "position", "user__username"))))
        rows = [(run, [(page, paging.methods_text(page)) for page in run.pages.all()]) for run in runs]
        return render(request, "oncall/paging_incident.html", {
            "incident": incident, "runs": rows,
            "can_act": incident.is_open and can(request.user, "responder", incident),
            "running": any(run.status == "active" for run, _pages in rows),
            "policies": EscalationPolicy.objects.order_by("name").only("pk", "name"),
        })

    def post(self, request, pk):
        incident = _incident_or_404(pk)
        if not can(request.user, "responder", incident):
            raise PermissionDenied
        actor = Actor.for_user(request.user)
        try:
            if request.POST.get("action") == "stop":
                stopped = escalation.stop_for_incident(incident, status="cancelled", actor=actor)
                if stopped:
                    messages.success(request, _("The escalation was stopped."))
                else:
                    messages.info(request, _("No escalation was running."))
            else:
                policy = EscalationPolicy.objects.filter(pk=request.POST.get("policy") or 0).first()
                if policy is None:
                    messages.error(request, _("Choose an escalation policy."))
                else:
                    escalation.start_for_incident(incident, policy=policy, actor=actor)
                    messages.success(request, _("%(policy)s started.") % {"policy": policy.name})
        except TransitionNotAllowed as error:
            messages.error(request, str(error))
        return redirect("oncall:incident_paging", pk=incident.pk)


# --- paging settings ------------------------------------------------------------------------------------------


class StyledForm(forms.Form):
    """Bootstrap classes on the widgets, and is-invalid on the fields with errors."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select | forms.SelectMultiple):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")

    def add_error(self, field, error):
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields and "is-invalid" not in self.fields[name].widget.attrs.get("class", ""):
                self.fields[name].widget.attrs["class"] += " is-invalid"


class ContactMethodForm(StyledForm):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=ContactMethod.KINDS)
    label = forms.CharField(label=gettext_lazy("Label"), max_length=100, required=False)
    target = forms.CharField(label=gettext_lazy("Address"), max_length=1000,
                             help_text=gettext_lazy("Email address, Apprise URL (mmost://, slack://, ...) or "
                                                    "webhook URL"))
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False, initial=True)


KIND_REFUSED = gettext_lazy("Viewers add email addresses only; chat, SMS and webhook contact methods need the "
                            "responder role.")


class RuleForm(StyledForm):
    urgency = forms.ChoiceField(label=gettext_lazy("Urgency"), choices=URGENCIES)
    contact_method = forms.ModelChoiceField(label=gettext_lazy("Contact method"), queryset=ContactMethod.objects.none())
    delay_minutes = forms.IntegerField(label=gettext_lazy("After (minutes)"), min_value=0, max_value=1440, initial=0)

    def __init__(self, *args, person, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_method"].queryset = ContactMethod.objects.filter(user=person)


def _person(request, user_id):
    """The person whose settings are shown: oneself, or anyone for a manager."""
    if user_id is None or int(user_id) == request.user.pk:
        return request.user
    if not has_role(request.user, "manager"):
        raise PermissionDenied
    return get_object_or_404(get_user_model(), pk=user_id)


class PagingSettingsView(LoginRequiredMixin, View):
    def context(self, request, person, method_form=None, rule_form=None):
        methods = list(ContactMethod.objects.filter(user=person).order_by("kind", "id"))
        rules = list(NotificationRule.objects.filter(user=person).select_related("contact_method")
                     .order_by("urgency", "delay_minutes", "id"))
        by_urgency = [(key, label, [r for r in rules if r.urgency == key]) for key, label in URGENCIES]
        return {
            "person": person, "own": person.pk == request.user.pk, "methods": methods, "rules": by_urgency,
            "method_form": method_form or ContactMethodForm(), "rule_form": rule_form or RuleForm(person=person),
            "settings_url": self.url(person, request),
            "people": (get_user_model().objects.filter(is_active=True).order_by("username").only("pk", "username")
                       if has_role(request.user, "manager") else []),
        }

    @staticmethod
    def url(person, request) -> str:
        if person.pk == request.user.pk:
            return reverse("oncall:paging_settings")
        return reverse("oncall:paging_settings_for", args=[person.pk])

    def get(self, request, user_id=None):
        if request.GET.get("person"):
            return redirect("oncall:paging_settings_for", user_id=request.GET["person"]) \
                if str(request.GET["person"]).isdigit() else redirect("oncall:paging_settings")
        person = _person(request, user_id)
        return render(request, "oncall/paging_settings.html", self.context(request, person))

    def post(self, request, user_id=None):
        person = _person(request, user_id)
        actor = Actor.for_user(request.user)
        what = request.POST.get("what")
        method_form = rule_form = None
        try:
            if what == "method_add":
                method_form = ContactMethodForm(request.POST)
                if method_form.is_valid() and not paging.kind_allowed(request.user, method_form.cleaned_data["kind"]):
                    method_form.add_error("kind", KIND_REFUSED)
                if method_form.is_valid():
                    paging.create_contact_method(user=person, actor=actor, data=method_form.cleaned_data)
                    messages.success(request, _("Contact method added."))
                    return redirect(self.url(person, request))
            elif what == "rule_add":
                rule_form = RuleForm(request.POST, person=person)
                if rule_form.is_valid():
                    paging.create_rule(user=person, actor=actor, data=rule_form.cleaned_data)
                    messages.success(request, _("Notification rule added."))
                    return redirect(self.url(person, request))
            elif what in ("method_delete", "method_test", "method_toggle"):
                method = get_object_or_404(ContactMethod, pk=request.POST.get("method") or 0, user=person)
                if what == "method_delete":
                    paging.delete_contact_method(method, actor=actor)
                    messages.success(request, _("Contact method removed."))
                elif what == "method_test":
                    paging.send_test_notification(method, actor=actor)
                    messages.success(request, _("A test notification is on its way to %(m)s.") % {"m": method})
                else:
                    paging.update_contact_method(method, actor=actor, data={"enabled": not method.enabled})
                    messages.success(request, _("Contact method updated."))
                return redirect(self.url(person, request))
            elif what == "rule_delete":
                rule = get_object_or_404(NotificationRule, pk=request.POST.get("rule") or 0, user=person)
                paging.delete_rule(rule, actor=actor)
                messages.success(request, _("Notification rule removed."))
                return redirect(self.url(person, request))
            else:
                messages.error(request, _("Unknown action."))
                return redirect(self.url(person, request))
        except ValidationError as error:
            form = method_form or rule_form
            if form is None:
                messages.error(request, " ".join(error.messages))
                return redirect(self.url(person, request))
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        return render(request, "oncall/paging_settings.html",
                      self.context(request, person, method_form, rule_form), status=422)


class ContactMethodEditView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.method = get_object_or_404(ContactMethod.objects.select_related("user"), pk=kwargs["pk"])
        if self.method.user_id != request.user.pk and not has_role(request.user, "manager"):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def back(self, request):
        return PagingSettingsView.url(self.method.user, request)

    def form(self, data=None):
        """Someone else's URL (it carries credentials) is not shown: the field starts empty, and left
        empty it keeps the address."""
        initial = {k: getattr(self.method, k) for k in paging.CONTACT_FIELDS}
        hidden = self.method.user_id != self.request.user.pk and paging.shown_target(self.method.target) \
            != self.method.target
        if hidden:
            initial["target"] = ""
        form = ContactMethodForm(data, initial=initial)
        if hidden:
            form.fields["target"].required = False
            form.fields["target"].help_text = _("Now %(shown)s. Leave empty to keep it.") % {
                "shown": paging.shown_target(self.method.target)}
        return form

    def get(self, request, pk):
        return render(request, "oncall/paging_method_form.html", {"form": self.form(), "method": self.method,
                                                                  "back": self.back(request)})

    def post(self, request, pk):
        form = self.form(request.POST)
        if form.is_valid() and not form.cleaned_data["target"]:
            if form.cleaned_data["kind"] != self.method.kind:
                form.add_error("target", _("Give the address for the new kind."))
            else:
                form.cleaned_data["target"] = self.method.target
        if form.is_valid() and not paging.kind_allowed(request.user, form.cleaned_data["kind"]) and (
                form.cleaned_data["kind"] != self.method.kind or form.cleaned_data["target"] != self.method.target):
            form.add_error("kind", KIND_REFUSED)
        if form.is_valid():
            try:
                paging.update_contact_method(self.method, actor=Actor.for_user(request.user), data=form.cleaned_data)
                messages.success(request, _("Contact method updated."))
                return redirect(self.back(request))
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
        return render(request, "oncall/paging_method_form.html", {"form": form, "method": self.method,
                                                                  "back": self.back(request)}, status=422)


urlpatterns = [
    path("page-link/<str:token>/", PageLinkView.as_view(), name="page_link"),
    path("incidents/<int:pk>/paging/", IncidentPagingView.as_view(), name="incident_paging"),
    path("paging/", PagingSettingsView.as_view(), name="paging_settings"),
    path("paging/people/<int:user_id>/", PagingSettingsView.as_view(), name="paging_settings_for"),
    path("paging/methods/<int:pk>/edit/", ContactMethodEditView.as_view(), name="contact_method_edit"),
]
