import pytest
from django.core.exceptions import ValidationError

from opsdesk.core import weekly_hours


def test_parse_and_format_round_trip():
    hours = weekly_hours.parse("Mon-Fri 08:00-12:00,13:00-18:00; sat 10:00-14:00")
    assert hours["mon"] == [["08:00", "12:00"], ["13:00", "18:00"]]
    assert hours["sat"] == [["10:00", "14:00"]]
    assert "sun" not in hours
    assert weekly_hours.format_hours(hours) == "mon-fri 08:00-12:00,13:00-18:00; sat 10:00-14:00"
    assert weekly_hours.parse(weekly_hours.format_hours(hours)) == hours


def test_always_and_empty():
    assert weekly_hours.format_hours(weekly_hours.parse("24x7")) == "24x7"
    assert weekly_hours.parse("") == {}


@pytest.mark.parametrize("text", ["funday 09:00-17:00", "mon 17:00-09:00", "mon 09:00-25:00", "mon 9-5",
                                  "fri-mon 09:00-10:00", "mon 09:00-12:00,11:00-13:00", "mon-fri"])
def test_bad_input_is_refused_with_a_sentence(text):
    with pytest.raises(ValidationError) as error:
        weekly_hours.parse(text)
    assert error.value.messages[0].endswith((".", "”."))


def test_time_zones():
    weekly_hours.validate_time_zone("Asia/Tokyo")
    with pytest.raises(ValidationError):
        weekly_hours.validate_time_zone("Mars/Olympus")
