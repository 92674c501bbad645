"""What a new installation's SLA engine starts with: a 24x7 calendar, office hours in UTC and one
policy per incident priority. Loaded by migration 0003 (with the historical models); rows an admin
changed or removed are left as they are by later upgrades, which only add what is missing by key."""

from django.utils.translation import gettext_noop as N_

ALWAYS = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
OFFICE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}

# slug, name, hours, description
CALENDARS = [
    ("24x7", N_("24x7"), ALWAYS, N_("Every minute of every day counts.")),
    ("office-hours-utc", N_("Office hours (UTC)"), OFFICE, N_("Monday to Friday, 09:00 to 17:00 UTC.")),
]

# slug, name, order, priorities, calendar, [(metric, goal minutes, business time)]
POLICIES = [
    ("p1-incidents", N_("P1 incidents"), 10, ["P1"], "24x7", [("acknowledge", 15, False), ("resolve", 240, False)]),
    ("p2-incidents", N_("P2 incidents"), 20, ["P2"], "24x7", [("acknowledge", 30, False), ("resolve", 480, False)]),
    # 3 business days of 8 working hours each
    ("p3-incidents", N_("P3 incidents"), 30, ["P3"], "office-hours-utc",
     [("acknowledge", 240, True), ("resolve", 1440, True)]),
    ("p4-p5-incidents", N_("P4/P5 incidents"), 40, ["P4", "P5"], "office-hours-utc",
     [("acknowledge", 480, True), ("resolve", 2400, True)]),
]
PAUSE_STATES = ["on_hold"]
WARN_PERCENTAGES = [50, 75]


def install(apps=None) -> None:
    if apps is None:
        from django.apps import apps
    BusinessCalendar = apps.get_model("sla", "BusinessCalendar")
    SLAPolicy = apps.get_model("sla", "SLAPolicy")
    SLATarget = apps.get_model("sla", "SLATarget")
    calendars = {}
    for slug, name, hours, description in CALENDARS:
        calendars[slug], _created = BusinessCalendar.objects.get_or_create(
            slug=slug, defaults={"name": name, "time_zone": "UTC", "hours": hours, "description": description})
    for slug, name, order, priorities, calendar, targets in POLICIES:
        if SLAPolicy.objects.filter(slug=slug).exists() or SLAPolicy.objects.filter(name=name).exists():
            continue
        policy = SLAPolicy.objects.create(
            slug=slug, name=name, record_type="incident", order=order, active=True,
            conditions={"priority": priorities}, calendar=calendars[calendar], pause_states=PAUSE_STATES,
            warn_percentages=WARN_PERCENTAGES)
        for metric, minutes, business_time in targets:
            SLATarget.objects.create(policy=policy, metric=metric, goal_minutes=minutes, business_time=business_time)
