"""CMDB factories: everything is created through opsdesk.cmdb.services, so numbers, the change log
and events are as in production. Classes and relationship types shipped by migration 0002 are looked
up by key (`ci_class__slug`), e.g. CIFactory(ci_class=cls("server"))."""

import factory

from opsdesk.cmdb import services
from opsdesk.cmdb.models import CIClass, ConfigurationItem, RelationshipType
from opsdesk.core.actors import Actor

FACTORY_ACTOR = Actor.system("factory")


def _shipped():
    """Transactional tests (browser, integration) flush the database, shipped rows included: put them back."""
    from opsdesk.cmdb.defaults import install

    install()


def cls(slug: str) -> CIClass:
    if not CIClass.objects.filter(slug=slug).exists():
        _shipped()
    return CIClass.objects.get(slug=slug)


def reltype(slug: str) -> RelationshipType:
    if not RelationshipType.objects.filter(slug=slug).exists():
        _shipped()
    return RelationshipType.objects.get(slug=slug)


class CIFactory(factory.django.DjangoModelFactory):
    """`status=` walks the lifecycle: planned (default), in_production, maintenance, retired, disposed."""

    class Meta:
        model = ConfigurationItem

    name = factory.Sequence(lambda n: f"host{n:03d}")
    ci_class = factory.LazyFunction(lambda: cls("server"))
    environment = "production"

    @classmethod
    def _create(cls_, model_class, *args, **kwargs):
        status = kwargs.pop("status", "planned")
        services_ = kwargs.pop("services", None)
        if services_ is not None:
            kwargs["services"] = list(services_)
        ci = services.create_ci(actor=FACTORY_ACTOR, data=kwargs)
        if status in {"in_production", "maintenance", "retired", "disposed"}:
            ci = services.transition_ci(ci, "deploy", actor=FACTORY_ACTOR)
        if status == "maintenance":
            ci = services.transition_ci(ci, "start_maintenance", actor=FACTORY_ACTOR, data={"reason": "factory"})
        if status in {"retired", "disposed"}:
            ci = services.transition_ci(ci, "retire", actor=FACTORY_ACTOR, data={"reason": "factory"})
        if status == "disposed":
            from tests.accounts.factories import UserFactory

            approver = UserFactory(role="manager")
            ci = services.transition_ci(ci, "dispose", actor=FACTORY_ACTOR,
                                        data={"disposal_method": "recycled", "disposal_reference": "WEEE-1",
                                              "approved_by": approver.username})
        return ci


def relate(source, slug: str, target=None, *, service=None):
    return services.relate(source, reltype(slug), actor=FACTORY_ACTOR, target=target, target_service=service)


class CIClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CIClass

    slug = factory.Sequence(lambda n: f"class-{n}")
    name = factory.Sequence(lambda n: f"Class {n}")

    @classmethod
    def _create(cls_, model_class, *args, **kwargs):
        return services.create_class(actor=FACTORY_ACTOR, data=kwargs)
