"""Who is told about a record: its responsible person, else people of its team in given roles.

One rule for every notice that has a "person in charge, else the team" shape (problem recurrence,
overdue countermeasures, article reviews). Only active users are ever named: a notice addressed to a
deactivated account reaches no one, so it falls through to the team instead.
"""

from __future__ import annotations

from collections.abc import Iterable

MANAGERS = ("manager", "admin")


def _pk(value):
    return getattr(value, "pk", value)


def team_members(teams: Iterable, roles: Iterable[str] | None = MANAGERS) -> dict[int, list[int]]:
    """The active members of each team (teams or their ids) holding one of `roles` in it (every member
    when `roles` is None): {team id: [user ids]}, in one query however many teams."""
    from opsdesk.accounts.models import Membership

    ids = {_pk(team) for team in teams if team is not None}
    result: dict[int, list[int]] = {team_id: [] for team_id in ids}
    if not ids:
        return result
    rows = Membership.objects.filter(team_id__in=ids, user__is_active=True)
    if roles is not None:
        rows = rows.filter(role__in=tuple(roles))
    for team_id, user_id in rows.order_by("team_id", "user_id").values_list("team_id", "user_id"):
        result[team_id].append(user_id)
    return result


def responsible(user=None, team=None, roles: Iterable[str] | None = MANAGERS, *,
                members: dict[int, list[int]] | None = None) -> list[int]:
    """The user ids to notify: `user` when active, else `team`'s active members in `roles` (every
    member when None); [] when neither gives anyone.

    `user` is a user, a user id, or a sequence of them (the first active one wins: "the
    countermeasure's owner, else the problem's owner"). Users given as objects are judged by their
    `is_active` without a query; an id costs one. `members` is a `team_members()` result computed
    once for a batch of records, so a sweep over many records makes no query per record."""
    from django.contrib.auth import get_user_model

    candidates = user if isinstance(user, list | tuple) else [user]
    for candidate in candidates:
        if candidate is None:
            continue
        if hasattr(candidate, "is_active"):
            if candidate.is_active:
                return [candidate.pk]
        elif get_user_model().objects.filter(pk=candidate, is_active=True).exists():
            return [candidate]
    if team is None:
        return []
    team_id = _pk(team)
    if members is None or team_id not in members:
        members = team_members([team_id], roles)
    return list(members.get(team_id, []))
