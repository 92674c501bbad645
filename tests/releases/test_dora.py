"""DORA figures on a crafted history of production deployments, rollbacks, a watch rise and an incident caused
by a release's change, per service and month and overall, with their performance bands."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from opsdesk.changes.models import CausedIncident, ChangeRequest
from opsdesk.incidents.models import Incident
from opsdesk.releases import dora
from opsdesk.releases.models import Release
from tests.changes.factories import make_change
from tests.incidents.factories import make_incident
from tests.releases.watch_setup import deploy, make_release
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
NOW = datetime.datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
SEP, OCT = datetime.date(2026, 9, 1), datetime.date(2026, 10, 1)


def d(month, day, hour=0):
    return datetime.datetime(2026, month, day, hour, tzinfo=UTC)


def release_at(moment, **fields):
    with time_machine.travel(moment, tick=False):
        return make_release(**fields)


def change_submitted(moment, **fields):
    change = make_change(**fields)
    ChangeRequest.objects.filter(pk=change.pk).update(submitted_at=moment)
    return change


@pytest.fixture
def history(db):
    checkout, billing = ServiceFactory(name="Checkout", slug="checkout"), ServiceFactory(name="Billing", slug="billing")
    # September. R1: a change submitted on the 1st, deployed on the 3rd (lead 48 h).
    r1 = release_at(d(8, 30), title="R1", services=[checkout])
    r1.changes.add(change_submitted(d(9, 1), title="C1"))
    deploy(r1, d(9, 2), env="test", minutes=0)  # not production: not counted
    deploy(r1, d(9, 3), minutes=0)
    # R2 on both services, no change: created the 9th, deployed the 10th (lead 24 h), rolled back 2 h later.
    r2 = release_at(d(9, 9), title="R2", services=[checkout, billing])
    failed = deploy(r2, d(9, 10), minutes=0)
    deploy(r2, d(9, 10, 2), minutes=0, rollback_of=failed)
    Release.objects.filter(pk=r2.pk).update(status="rolled_back")
    # October. R3 (billing): a failed deployment on the 2nd, a good one on the 3rd (lead 48 h from the 1st).
    r3 = release_at(d(10, 1), title="R3", services=[billing])
    deploy(r3, d(10, 2), minutes=0, result="failed")
    deploy(r3, d(10, 3), minutes=0)
    # R4 (checkout): change submitted the 5th, deployed the 6th; its change caused an incident fixed in 4 hours.
    r4 = release_at(d(10, 4), title="R4", services=[checkout])
    c4 = change_submitted(d(10, 5), title="C4")
    r4.changes.add(c4)
    deploy(r4, d(10, 6), minutes=0)
    with time_machine.travel(d(10, 6, 1), tick=False):
        incident = make_incident(title="Checkout 502 after R4", service=checkout)
    Incident.objects.filter(pk=incident.pk).update(resolved_at=d(10, 6, 5))
    CausedIncident.objects.create(change=c4, incident=incident)
    # R5 (checkout): created the 7th, deployed the 8th; the post-release watch flagged a rise.
    r5 = release_at(d(10, 7), title="R5", services=[checkout])
    deploy(r5, d(10, 8), minutes=0)
    Release.objects.filter(pk=r5.pk).update(watch_status="rise")
    # Outside the months asked for.
    deploy(release_at(d(7, 1), title="Old", services=[checkout]), d(8, 1), minutes=0)
    return checkout, billing


def test_overall_figures_per_month(history):
    report = dora.report(months=2, now=NOW)
    sep, oct_ = report.overall[SEP].as_dict(), report.overall[OCT].as_dict()
    assert (sep["deployment_frequency"], sep["production_deployments"], sep["failed_deployments"]) == (2, 2, 1)
    assert sep["change_failure_rate"] == 0.5
    assert sep["lead_time_hours"] == 36.0  # median of 48 and 24
    assert sep["time_to_restore_hours"] == 2.0  # the rollback, 2 hours after the failed deployment
    assert (oct_["deployment_frequency"], oct_["production_deployments"], oct_["failed_deployments"]) == (3, 4, 3)
    assert oct_["change_failure_rate"] == 0.75  # failed, caused an incident, watch rise
    assert oct_["lead_time_hours"] == 24.0  # median of 48, 24, 24
    assert oct_["time_to_restore_hours"] == 4.0  # the caused incident
    assert oct_["bands"] == {"deployment_frequency": "medium", "lead_time": "high", "change_failure_rate": "low",
                             "time_to_restore": "high"}


def test_figures_per_service(history):
    checkout, billing = history
    report = dora.report(months=2, now=NOW)
    assert [s.slug for s in report.services] == ["billing", "checkout"]
    b_sep, b_oct = report.by_service[billing.pk][SEP].as_dict(), report.by_service[billing.pk][OCT].as_dict()
    assert (b_sep["deployment_frequency"], b_sep["change_failure_rate"], b_sep["lead_time_hours"],
            b_sep["time_to_restore_hours"]) == (1, 1.0, 24.0, 2.0)
    assert (b_oct["deployment_frequency"], b_oct["production_deployments"], b_oct["change_failure_rate"],
            b_oct["lead_time_hours"], b_oct["time_to_restore_hours"]) == (1, 2, 0.5, 48.0, None)
    c_oct = report.by_service[checkout.pk][OCT].as_dict()
    assert (c_oct["deployment_frequency"], c_oct["change_failure_rate"], c_oct["lead_time_hours"],
            c_oct["time_to_restore_hours"]) == (2, 1.0, 24.0, 4.0)


def test_one_service_and_the_json_shape(history):
    _checkout, billing = history
    data = dora.report(months=2, service=billing, now=NOW).as_dict()
    assert data["months"] == ["2026-09", "2026-10"] and data["service"] == "billing"
    assert [s["slug"] for s in data["services"]] == ["billing"]
    assert [m["production_deployments"] for m in data["overall"]] == [1, 2]
    assert len(data["method"]) == 4


def test_months_are_bounded_and_empty_months_have_no_rates():
    report = dora.report(months=100, now=NOW)
    assert len(report.months) == dora.MAX_MONTHS
    figures = report.overall[OCT].as_dict()
    assert figures["deployment_frequency"] == 0 and figures["change_failure_rate"] is None
    assert figures["bands"]["deployment_frequency"] == "low" and figures["bands"]["lead_time"] is None
    assert dora.month_starts(3, d(1, 15))[0] == datetime.datetime(2025, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("function, value, band", [
    (dora.frequency_band, 30, "elite"), (dora.frequency_band, 4, "high"), (dora.frequency_band, 1, "medium"),
    (dora.lead_time_band, 23, "elite"), (dora.lead_time_band, 24 * 6, "high"), (dora.lead_time_band, 24 * 40, "low"),
    (dora.failure_rate_band, 0.05, "elite"), (dora.failure_rate_band, 0.12, "medium"),
    (dora.restore_band, 0.5, "elite"), (dora.restore_band, 24 * 8, "low"),
])
def test_bands(function, value, band):
    assert function(value) == band


def test_the_report_makes_a_fixed_number_of_queries(history, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        dora.report(months=2, now=NOW).rows()
