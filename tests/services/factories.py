import factory

from opsdesk.core.actors import Actor
from opsdesk.services import services
from opsdesk.services.models import Service
from tests.accounts.factories import TeamFactory


class ServiceFactory(factory.django.DjangoModelFactory):
    """Creates through the service layer, so numbers, change log and events are as in production."""

    class Meta:
        model = Service

    name = factory.Sequence(lambda n: f"Service {n}")
    slug = factory.Sequence(lambda n: f"service-{n}")
    owner_team = factory.SubFactory(TeamFactory)
    tier = 3
    criticality = "medium"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        status = kwargs.pop("status", "planned")
        service = services.create_service(actor=Actor.system("factory"), data=kwargs)
        if status in {"active", "retired"}:
            service = services.activate_service(service, actor=Actor.system("factory"))
        if status == "retired":
            service = services.retire_service(service, actor=Actor.system("factory"), reason="factory")
        return service
