"""Disposal dates per retention class, leap-day birthdays, and configured periods."""

from datetime import date

import pytest

from service.config import ConfigError, load_settings
from service.retention.periods import (
    ChildOnCase,
    RetentionPeriods,
    add_years,
    case_retention,
    class_for_plan,
    disposal_date,
    is_due,
)

DEFAULT = RetentionPeriods()


def test_looked_after_until_the_75th_birthday():
    assert disposal_date(
        "looked_after", DEFAULT, date_of_birth=date(2010, 6, 15), last_contact=None
    ) == date(2085, 6, 15)


def test_care_leaver_75_years_from_birth():
    assert disposal_date(
        "care_leaver", DEFAULT, date_of_birth=date(2005, 1, 31), last_contact=date(2024, 1, 1)
    ) == date(2080, 1, 31)


def test_child_protection_35_years_after_last_contact():
    assert disposal_date(
        "child_protection", DEFAULT, date_of_birth=date(2010, 1, 1), last_contact=date(2025, 3, 4)
    ) == date(2060, 3, 4)


def test_child_in_need_18th_birthday_plus_3_years():
    assert disposal_date(
        "child_in_need", DEFAULT, date_of_birth=date(2012, 9, 1), last_contact=None
    ) == date(2033, 9, 1)


@pytest.mark.parametrize(
    ("retention_class", "expected"),
    [
        ("looked_after", date(2083, 3, 1)),  # 2083 is not a leap year
        ("care_leaver", date(2083, 3, 1)),
        ("child_in_need", date(2029, 3, 1)),  # 18th birthday 1 March 2026, plus 3 years
    ],
)
def test_a_29_february_birthday_falls_on_1_march_in_a_common_year(retention_class, expected):
    assert (
        disposal_date(retention_class, DEFAULT, date_of_birth=date(2008, 2, 29), last_contact=None)
        == expected
    )


def test_leap_day_kept_when_the_year_has_one():
    assert add_years(date(2008, 2, 29), 4) == date(2012, 2, 29)
    assert add_years(date(2024, 2, 29), 35) == date(2059, 3, 1)
    assert disposal_date(
        "looked_after", DEFAULT, date_of_birth=date(2004, 2, 29), last_contact=None
    ) == date(2079, 3, 1)
    assert disposal_date(
        "child_in_need",
        RetentionPeriods(child_in_need_years=4),
        date_of_birth=date(2004, 2, 29),
        last_contact=None,
    ) == date(2026, 3, 1)


def test_configured_periods_are_used():
    periods = RetentionPeriods(
        looked_after_age=80,
        care_leaver_years=90,
        child_protection_years=40,
        child_in_need_age=25,
        child_in_need_years=6,
    )
    born, contact = date(2010, 5, 5), date(2020, 7, 7)
    assert [
        disposal_date(c, periods, date_of_birth=born, last_contact=contact)
        for c in ("looked_after", "care_leaver", "child_protection", "child_in_need")
    ] == [date(2090, 5, 5), date(2100, 5, 5), date(2060, 7, 7), date(2041, 5, 5)]


def test_periods_come_from_the_environment_and_junk_is_refused():
    settings = load_settings(
        env={"RETENTION_CHILD_PROTECTION_YEARS": "40", "RETENTION_CHILD_IN_NEED_YEARS": "6"}
    )
    assert settings.RETENTION_CHILD_PROTECTION_YEARS == 40
    assert settings.RETENTION_CHILD_IN_NEED_YEARS == 6
    assert settings.RETENTION_LOOKED_AFTER_AGE == 75
    with pytest.raises(ConfigError, match="RETENTION_LOOKED_AFTER_AGE"):
        load_settings(env={"RETENTION_LOOKED_AFTER_AGE": "seventy-five"})
    with pytest.raises(ConfigError, match="RETENTION_CHILD_PROTECTION_YEARS"):
        load_settings(env={"RETENTION_CHILD_PROTECTION_YEARS": "0"})


def test_an_unknown_date_of_birth_means_no_date_not_a_guess():
    assert disposal_date("looked_after", DEFAULT, date_of_birth=None, last_contact=None) is None
    assert disposal_date("child_protection", DEFAULT, date_of_birth=None, last_contact=None) is None


def test_plan_types_map_to_classes():
    assert class_for_plan("private_fostering") == "looked_after"
    assert class_for_plan("child_protection") == "child_protection"


def test_a_case_is_kept_as_long_as_its_longest_kept_child():
    children = [
        ChildOnCase("child_in_need", date(2012, 1, 1)),  # 2033
        ChildOnCase("child_protection", date(2015, 1, 1)),  # contact 2020 + 35 = 2055
    ]
    assert case_retention(children, date(2020, 2, 2), DEFAULT) == (
        "child_protection",
        date(2055, 2, 2),
    )


def test_one_child_without_a_date_keeps_the_whole_case():
    children = [ChildOnCase("child_in_need", date(2012, 1, 1)), ChildOnCase("looked_after", None)]
    assert case_retention(children, date(2020, 1, 1), DEFAULT) == ("looked_after", None)
    assert case_retention([], date(2020, 1, 1), DEFAULT) == ("child_in_need", None)


def test_due_on_the_disposal_date_itself():
    assert is_due(date(2026, 1, 1), date(2026, 1, 1))
    assert not is_due(date(2026, 1, 2), date(2026, 1, 1))
    assert not is_due(None, date(2026, 1, 1))
