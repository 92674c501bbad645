import pytest
from django.core.exceptions import ValidationError

from opsdesk.core.workflow import Transition, TransitionNotAllowed, Workflow

FLOW = Workflow(
    states={"new": "New", "open": "Open", "closed": "Closed"},
    initial="new",
    transitions=[
        Transition("open", "Open", ("new",), "open"),
        Transition("close", "Close", ("new", "open"), "closed", requires=("reason",)),
    ],
)


class Record:
    status = "new"

    def __str__(self):
        return "REC-1"


def test_available_transitions_follow_the_state():
    record = Record()
    assert [t.name for t in FLOW.available(record)] == ["open", "close"]
    FLOW.apply(record, "open")
    assert record.status == "open"
    assert [t.name for t in FLOW.available(record)] == ["close"]


def test_illegal_transition_says_why_and_changes_nothing():
    record = Record()
    record.status = "closed"
    with pytest.raises(TransitionNotAllowed) as error:
        FLOW.apply(record, "open")
    assert "it is Closed" in str(error.value) and "only possible when it is New" in str(error.value)
    assert record.status == "closed"


def test_required_fields_are_enforced():
    record = Record()
    with pytest.raises(ValidationError) as error:
        FLOW.apply(record, "close", {"reason": "  "})
    assert "reason" in error.value.message_dict
    assert record.status == "new"


def test_unknown_transition_and_bad_declaration():
    with pytest.raises(TransitionNotAllowed):
        FLOW.apply(Record(), "explode")
    with pytest.raises(ValueError):
        Workflow(states={"a": "A"}, initial="a", transitions=[Transition("x", "X", ("a",), "b")])
