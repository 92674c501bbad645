"""Label matchers (Alertmanager semantics), grouping-key templates and route selection."""

import pytest
from django.core.exceptions import ValidationError

from opsdesk.alerts import matching
from opsdesk.alerts.intake import AlertEvent
from opsdesk.alerts.models import Route
from opsdesk.alerts.selectors import active_silence_for, maintenance_for
from tests.alerts.factories import make_integration


def m(label, op, value):
    return {"label": label, "op": op, "value": value}


# --- matchers -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("matchers", "labels", "expected"), [
    ([], {"a": "1"}, True),
    ([m("team", "=", "db")], {"team": "db"}, True),
    ([m("team", "=", "db")], {"team": "dbx"}, False),
    ([m("team", "!=", "db")], {"team": "web"}, True),
    ([m("team", "!=", "db")], {}, True),
    # A missing label is the empty string.
    ([m("team", "=", "")], {}, True),
    ([m("team", "!=", "")], {}, False),
    ([m("team", "=~", "")], {}, True),
    # Regular expressions are anchored at both ends.
    ([m("team", "=~", "db")], {"team": "db-primary"}, False),
    ([m("team", "=~", "db.*")], {"team": "db-primary"}, True),
    ([m("team", "=~", "db|web")], {"team": "web"}, True),
    ([m("team", "=~", "db|web")], {"team": "webapp"}, False),
    ([m("team", "!~", "db|web")], {"team": "webapp"}, True),
    ([m("team", "!~", "db|web")], {"team": "db"}, False),
    # Every matcher must hold.
    ([m("team", "=", "db"), m("severity", "=~", "critical|error")], {"team": "db", "severity": "warning"}, False),
    ([m("team", "=", "db"), m("severity", "=~", "critical|error")], {"team": "db", "severity": "error"}, True),
])
def test_matchers_follow_alertmanager(matchers, labels, expected):
    assert matching.matches(matching.validate_matchers(matchers), labels) is expected


def test_validate_accepts_the_text_form_and_normalises():
    assert matching.validate_matchers(['team=~"db|web"', "env!=prod", 'x="a \\"b\\""']) == [
        m("team", "=~", "db|web"), m("env", "!=", "prod"), m("x", "=", 'a "b"')]
    assert matching.validate_matchers(None) == []


@pytest.mark.parametrize(("value", "fragment"), [
    ("team=db", "list of matchers"),
    ([m("team", "=~", "(")], "Matcher 1 (team=~(): not a valid regular expression"),
    ([m("ok", "=", "1"), m("2bad", "=", "x")], "Matcher 2: '2bad' is not a label name"),
    ([m("team", "==", "db")], "the operator must be one of"),
    ([{"label": "team", "op": "=", "value": "db", "extra": 1}], "unknown keys extra"),
    (["team is db"], 'Matcher 1 ("team is db")'),
    ([m("team", "=", ["db"])], "the value must be text"),
    ([7], "Matcher 1: an object"),
])
def test_validate_names_the_bad_entry(value, fragment):
    with pytest.raises(ValidationError) as caught:
        matching.validate_matchers(value)
    assert fragment in " ".join(caught.value.messages)


@pytest.mark.parametrize("pattern", ["(a+)+", "(a*)*b", "((x+))+", r"(\w+\s?)*", "(?:a|b+)+", "(a+){20}",
                                     "(a{1,2})+"])
def test_a_repeat_inside_a_repeat_is_refused(pattern):
    with pytest.raises(ValidationError) as caught:
        matching.validate_matchers([m("instance", "=~", pattern)])
    assert "Matcher 1 (instance=~" in caught.value.messages[0]
    assert "repeat inside a repeat" in caught.value.messages[0]
    with pytest.raises(ValidationError) as caught:
        matching.validate_regex(pattern)
    assert "repeat inside a repeat" in caught.value.message_dict["source_pattern"][0]


@pytest.mark.parametrize("pattern", [".*foo.*", "db|web", r"(\d+\.){3}\d+", "(ab{2})*", "(a+){2,5}", "x+y*"])
def test_ordinary_regular_expressions_pass_the_cost_check(pattern):
    assert matching.validate_matchers([m("instance", "=~", pattern)])[0]["value"] == pattern
    assert matching.validate_regex(pattern) == pattern


def test_a_pattern_over_1000_characters_is_refused():
    assert matching.validate_matchers([m("a", "=~", "x" * 1000)])
    with pytest.raises(ValidationError) as caught:
        matching.validate_matchers([m("a", "=~", "x" * 1001)])
    assert "limited to 1000 characters" in caught.value.messages[0]
    with pytest.raises(ValidationError):
        matching.validate_regex("x" * 1001)


@pytest.mark.parametrize(("matchers", "refused"), [
    ([m("alertname", "=~", ".*")], True),
    ([m("team", "!=", "db")], True),
    ([m("team", "=", "")], True),
    ([m("team", "!~", "db|web"), m("env", "=~", "prod|")], True),
    ([m("alertname", "=~", ".*"), m("team", "=", "db")], False),
    ([m("team", "=~", ".+")], False),
    ([m("team", "!=", "")], False),
])
def test_matchers_that_all_match_the_empty_string_are_refused(matchers, refused):
    if refused:
        with pytest.raises(ValidationError) as caught:
            matching.validate_not_matching_everything(matchers)
        assert "At least one matcher must need a value" in caught.value.messages[0]
    else:
        assert matching.validate_not_matching_everything(matchers) == matchers


def test_validate_regex_for_a_field():
    assert matching.validate_regex("db-.*") == "db-.*"
    with pytest.raises(ValidationError) as caught:
        matching.validate_regex("db[", field="source_pattern")
    assert "source_pattern" in caught.value.message_dict


# --- grouping keys ------------------------------------------------------------------------------------

def test_render_group_key_substitutes_labels_and_missing_is_empty():
    template = matching.validate_template(" {{ alertname }}/{{cluster}}/{{ missing }} ")
    assert template == "{{ alertname }}/{{cluster}}/{{ missing }}"
    assert matching.render_group_key(template, {"alertname": "HighCPU", "cluster": "eu1"}) == "HighCPU/eu1/"
    assert matching.template_labels(template) == ["alertname", "cluster", "missing"]


@pytest.mark.parametrize("text", ["{{ labels['x'] }}", "{% if x %}", "{{ alertname", "{{ a.b }}",
                                  "{{ __import__('os') }}"])
def test_templates_hold_only_placeholders(text):
    with pytest.raises(ValidationError):
        matching.validate_template(text)


def test_a_rendered_key_runs_no_code():
    # Label values are inserted as they are: braces in a value are not evaluated again.
    assert matching.render_group_key("{{ a }}", {"a": "{{ b }}", "b": "secret"}) == "{{ b }}"


# --- routes -------------------------------------------------------------------------------------------

@pytest.fixture
def routes(db):
    def make(name, order, **fields):
        route = Route.objects.create(name=name, order=order, **fields)
        matching.routes_changed()
        return route

    return make


def event(severity="critical", source="", **labels):
    return AlertEvent(fingerprint="x", status="firing", labels=labels, severity=severity, source=source)


def test_first_matching_route_by_order_wins(routes):
    catch_all = routes("default", 1000)
    db = routes("db", 10, matchers=[m("team", "=", "db")])
    routes("db-critical", 20, matchers=[m("team", "=", "db")], severities=["critical"])
    assert matching.route_for(event(team="db")) == db
    assert matching.route_for(event(team="web")) == catch_all


def test_route_conditions_severity_source_integration_and_disabled(routes):
    integration, _key = make_integration("alertmanager")
    other, _key = make_integration("events")
    routes("off", 1, enabled=False)
    only_other = routes("other only", 2, integration=other)
    by_source = routes("by source", 3, source_pattern="db-.*")
    warnings = routes("warnings", 4, severities=["warning", "info"])
    assert matching.route_for(event(source="db-7"), integration=integration) == by_source
    assert matching.route_for(event(source="xdb-7"), integration=integration) is None
    assert matching.route_for(event(severity="info"), integration=integration) == warnings
    assert matching.route_for({"a": "b"}, "critical", "", other) == only_other
    assert matching.route_for({"a": "b"}, "critical", "", integration) is None


def test_route_list_is_cached_until_routes_changed(routes, django_assert_num_queries):
    first = routes("first", 1)
    matching.route_for(event())
    with django_assert_num_queries(0):
        assert matching.route_for(event()) == first
    Route.objects.filter(pk=first.pk).update(enabled=False)
    assert matching.route_for(event()) == first  # cached: the write did not announce itself
    matching.routes_changed()
    assert matching.route_for(event()) is None


# --- selectors ----------------------------------------------------------------------------------------

def test_active_silence_for_honours_time_integration_and_early_expiry(db):
    import datetime

    from django.utils import timezone

    from opsdesk.alerts.models import Silence

    now = timezone.now()
    integration, _key = make_integration("alertmanager")
    other, _key = make_integration("events")
    hour = datetime.timedelta(hours=1)
    Silence.objects.create(matchers=[m("team", "=", "db")], starts_at=now + hour, ends_at=now + 2 * hour,
                           comment="future")
    Silence.objects.create(matchers=[m("team", "=", "db")], starts_at=now - hour, ends_at=now + hour,
                           comment="ended by hand", expired_early_at=now - datetime.timedelta(minutes=1))
    scoped = Silence.objects.create(matchers=[m("team", "=", "db")], starts_at=now - hour, ends_at=now + hour,
                                    comment="other integration", integration=other)
    assert active_silence_for({"team": "db"}, integration, now) is None
    assert active_silence_for({"team": "db"}, other, now) == scoped
    assert active_silence_for({"team": "db"}, integration, now + 1.5 * hour).comment == "future"


def test_maintenance_for_ci_or_service(db):
    import datetime

    from django.utils import timezone

    from opsdesk.alerts.models import MaintenanceWindow
    from tests.cmdb.factories import CIFactory
    from tests.services.factories import ServiceFactory

    now = timezone.now()
    ci, service = CIFactory(), ServiceFactory()
    window = MaintenanceWindow.objects.create(title="patching", starts_at=now - datetime.timedelta(minutes=5),
                                              ends_at=now + datetime.timedelta(hours=1))
    window.cis.add(ci)
    assert maintenance_for([ci.pk], [], now) == window
    assert maintenance_for([], [service.pk], now) is None
    window.services.add(service)
    assert maintenance_for([], [service.pk], now) == window
    assert maintenance_for([ci.pk], [], now + datetime.timedelta(hours=2)) is None
    window.cancelled_at = now - datetime.timedelta(minutes=1)
    window.save()
    assert maintenance_for([ci.pk], [service.pk], now) is None
