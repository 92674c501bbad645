import pytest
from django.core.exceptions import ValidationError

from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.models import AuditEntry, OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.services import services
from opsdesk.services.models import Service
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def test_create_assigns_number_logs_and_emits_in_one_transaction(team):
    service = services.create_service(actor=ACTOR, data={"name": "Shop", "slug": "shop", "owner_team": team})
    assert service.number.startswith("SVC-")
    assert service.status == "planned"
    entry = history_for(service).get()
    assert entry.action == "create" and entry.actor_label == "system:test"
    assert entry.changes["name"] == [None, "Shop"]
    assert OutboxEvent.objects.filter(event_type="service.created", object_id=service.pk).exists()


def test_failed_write_leaves_nothing_behind(team):
    ServiceFactory(owner_team=team, name="Shop", slug="shop")
    audit_rows, events = AuditEntry.objects.count(), OutboxEvent.objects.count()
    with pytest.raises(ValidationError):
        services.create_service(actor=ACTOR, data={"name": "Shop", "slug": "shop-2", "owner_team": team})
    assert Service.objects.count() == 1
    assert (AuditEntry.objects.count(), OutboxEvent.objects.count()) == (audit_rows, events)


def test_lifecycle_planned_active_retired(team):
    service = ServiceFactory(owner_team=team)
    service = services.activate_service(service, actor=ACTOR)
    assert service.status == "active"
    with pytest.raises(TransitionNotAllowed, match="only possible when it is Retired"):
        services.transition_service(service, "reinstate", actor=ACTOR, data={"reason": "x"})
    with pytest.raises(ValidationError):
        services.transition_service(service, "retire", actor=ACTOR, data={})
    service = services.retire_service(service, actor=ACTOR, reason="gone")
    assert service.status == "retired" and service.retired_at is not None
    assert [e.action for e in history_for(service)] == ["retire", "activate", "create"]


def test_update_cannot_touch_status_and_only_logs_real_changes(team):
    service = ServiceFactory(owner_team=team)
    with pytest.raises(ValidationError):
        services.update_service(service, actor=ACTOR, data={"status": "active"})
    services.update_service(service, actor=ACTOR, data={"tier": service.tier})
    assert history_for(service).count() == 1
    services.update_service(service, actor=ACTOR, data={"tier": 1, "tags": ["pci", "payments"]})
    entry = history_for(service).first()
    assert entry.changes == {"tier": [3, 1], "tags": [[], ["payments", "pci"]]}


def test_dependencies_refuse_self_and_retired(team):
    service = ServiceFactory(owner_team=team)
    retired = ServiceFactory(owner_team=team, status="retired")
    with pytest.raises(ValidationError):
        services.update_service(service, actor=ACTOR, data={"depends_on": [service]})
    with pytest.raises(ValidationError):
        services.update_service(service, actor=ACTOR, data={"depends_on": [retired]})
