from opsdesk.core.actors import Actor

from . import services
from .models import Team, User

USERS = [
    ("alice", "Alice", "Nakamura", "responder", "alice@example.com"),
    ("bob", "Bob", "Schmidt", "viewer", "bob@example.com"),
    ("carol", "Carol", "Okafor", "manager", "carol@example.com"),
    ("dave", "Dave", "Lindqvist", "viewer", "dave@example.com"),
    ("erin", "Erin", "Costa", "responder", "erin@example.com"),
]
TEAMS = [
    ("platform", "Platform Engineering", "Kubernetes, CI/CD and the shared runtime.", "carol",
     {"alice": "responder", "erin": "manager", "carol": "manager"}),
    ("payments", "Payments", "Checkout, payment providers and billing.", "bob",
     {"bob": "manager", "dave": "responder"}),
    ("network", "Network Operations", "WAN, LAN, firewalls, load balancers and DNS.", "erin",
     {"erin": "responder"}),
    ("data", "Data Platform", "PostgreSQL, Kafka and the data warehouse.", "alice",
     {"alice": "manager", "dave": "viewer"}),
    ("workplace", "Workplace IT", "Email, identity, laptops and office tools.", "dave",
     {"dave": "responder", "bob": "viewer"}),
]


def load(actor: Actor) -> int:
    created = 0
    for username, first, last, role, email in USERS:
        if not User.objects.filter(username=username).exists():
            services.create_user(actor=actor, username=username, first_name=first, last_name=last, role=role,
                                 email=email)
            created += 1
    for slug, name, description, lead, members in TEAMS:
        if Team.objects.filter(slug=slug).exists():
            continue
        team = services.create_team(actor=actor, slug=slug, name=name, description=description,
                                    email=f"{slug}@example.com", lead=User.objects.get(username=lead))
        for username, role in members.items():
            services.set_membership(team, User.objects.get(username=username), actor=actor, role=role)
        created += 1
    return created
