"""States and transitions declared as data (CONVENTIONS §2).

A module's workflows.py declares a Workflow; services call `workflow.apply(...)`; views and the API
render the available transitions as buttons and POST actions. An illegal transition raises
TransitionNotAllowed (HTTP 409) with a sentence that says why, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class TransitionNotAllowed(Exception):
    """The record is not in a state from which this transition may be taken."""


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    sources: tuple[str, ...]
    target: str
    permission: str = "manager"  # the least role that may take it
    requires: tuple[str, ...] = ()  # fields the caller must give (e.g. a reason)
    style: str = "primary"
    confirm: str = ""
    # Taken only by a service (the approvals engine moving a change on at quorum): never offered as a
    # button or an API action, whatever the user's role.
    internal: bool = False


@dataclass
class Workflow:
    states: dict[str, str]  # value -> label
    initial: str
    transitions: list[Transition]
    field: str = "status"
    _by_name: dict[str, Transition] = dataclass_field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        self._by_name = {t.name: t for t in self.transitions}
        for t in self.transitions:
            unknown = [s for s in (*t.sources, t.target) if s not in self.states]
            if unknown:
                raise ValueError(f"transition {t.name} names unknown states {unknown}")

    @property
    def choices(self) -> list[tuple[str, str]]:
        return list(self.states.items())

    def get(self, name: str) -> Transition:
        try:
            return self._by_name[name]
        except KeyError:
            raise TransitionNotAllowed(_("There is no transition called “%(name)s”.") % {"name": name})

    def state_of(self, record) -> str:
        return getattr(record, self.field)

    def available(self, record) -> list[Transition]:
        """The transitions a person may be offered now (internal ones are left out)."""
        state = self.state_of(record)
        return [t for t in self.transitions if state in t.sources and not t.internal]

    def check(self, record, name: str, data: dict | None = None) -> Transition:
        transition = self.get(name)
        state = self.state_of(record)
        if state not in transition.sources:
            allowed_from = ", ".join(str(self.states[s]) for s in transition.sources)
            raise TransitionNotAllowed(
                _("Cannot %(action)s %(record)s: it is %(state)s, and this is only possible when it is %(from)s.")
                % {"action": transition.label.lower(), "record": record, "state": self.states[state],
                   "from": allowed_from}
            )
        data = data or {}
        missing = {f: _("This field is required to %(action)s.") % {"action": transition.label.lower()}
                   for f in transition.requires if not str(data.get(f) or "").strip()}
        if missing:
            raise ValidationError(missing)
        return transition

    def apply(self, record, name: str, data: dict | None = None) -> Transition:
        transition = self.check(record, name, data)
        setattr(record, self.field, transition.target)
        return transition
