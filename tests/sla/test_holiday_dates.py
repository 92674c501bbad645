"""Public holidays of a business calendar's country and region (the `holidays` package)."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from opsdesk.sla.holiday_dates import holiday_dates, holiday_names, validate_country

D = datetime.date
EPIPHANY = D(2026, 1, 6)


@pytest.mark.parametrize("country, subdivision, date, is_holiday", [
    ("DE", "BY", EPIPHANY, True),            # Bavaria keeps Epiphany ...
    ("DE", "BE", EPIPHANY, False),           # ... Berlin does not
    ("DE", "", EPIPHANY, False),             # nor does the nation as a whole
    ("DE", "BE", D(2026, 3, 8), True),       # International Women's Day, Berlin only
    ("DE", "", D(2026, 12, 25), True),
    ("DE", "", D(2026, 12, 24), False),      # Christmas Eve is a custom holiday, not a public one
    ("de", "by", EPIPHANY, True),            # codes are read case-insensitively
    ("US", "", D(2026, 7, 3), True),         # Independence Day observed on the Friday
    ("JP", "", D(2026, 5, 5), True),
])
def test_holiday_dates(country, subdivision, date, is_holiday):
    assert (date in holiday_dates(country, subdivision, years=range(2026, 2027))) is is_holiday


def test_holiday_dates_cover_the_years_asked_for_only():
    dates = holiday_dates("DE", "BY", range(2026, 2028))
    assert {d.year for d in dates} == {2026, 2027}
    assert D(2027, 1, 6) in dates
    assert isinstance(dates, frozenset)


def test_no_country_means_no_holidays():
    assert holiday_dates("", "", years=range(2026, 2027)) == frozenset()


def test_default_years_reach_five_years_ahead():
    this_year = datetime.date.today().year
    years = {d.year for d in holiday_dates("DE")}
    assert years == set(range(this_year - 1, this_year + 6))


@pytest.mark.parametrize("country, subdivision", [("DE", ""), ("DE", "BY"), ("de", "be"), ("US", "CA"), ("", "")])
def test_known_countries_and_regions_pass(country, subdivision):
    validate_country(country, subdivision)


@pytest.mark.parametrize("country, subdivision, message", [
    ("XX", "", "“XX” is not a country with known public holidays"),
    ("DE", "ZZ", "“ZZ” is not a region of DE; known regions: BB, BE, BW, BY"),
    ("", "BY", "needs a country"),
])
def test_unknown_countries_and_regions_are_refused_with_a_reason(country, subdivision, message):
    with pytest.raises(ValidationError, match=message):
        validate_country(country, subdivision)
    with pytest.raises(ValidationError, match=message):
        holiday_dates(country, subdivision, years=range(2026, 2027))


def test_holiday_names_go_with_the_same_dates():
    names = holiday_names("de", "by", years=[2026])
    assert set(names) == holiday_dates("DE", "BY", years=[2026])
    assert names[EPIPHANY]  # named, in the package's language for Germany
    names.clear()  # a caller's copy: the cache is not touched
    assert holiday_names("DE", "BY", years=[2026])
