from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from service.timescales import (
    DEFAULT_RULES,
    PLAN_TYPES,
    add_working_days,
    is_working_day,
    rules_from_config,
)

RULES = rules_from_config({})
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


def test_weekends_and_bank_holidays_are_not_working_days():
    assert not is_working_day(date(2026, 11, 21))  # Saturday
    assert not is_working_day(date(2026, 12, 25))  # Christmas Day
    assert not is_working_day(date(2026, 12, 28))  # Boxing Day substitute (26th is a Saturday)
    assert not is_working_day(date(2026, 8, 31))  # Summer bank holiday (England and Wales)
    assert is_working_day(date(2026, 8, 3))  # Scotland's summer holiday is not ours
    assert is_working_day(date(2026, 11, 23))


def test_ten_working_days_across_christmas_and_new_year():
    # Fri 18 Dec 2026 + 10 working days skips 25, 28 Dec and 1 Jan.
    assert add_working_days(date(2026, 12, 18), 10) == date(2027, 1, 6)


def test_working_days_across_easter():
    # Thu 2 Apr 2026: Good Friday 3 Apr and Easter Monday 6 Apr are bank holidays.
    assert add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)


def test_child_protection_counts_ten_working_days_from_last_seen():
    assert RULES["child_protection"].next_due(date(2026, 1, 5), date(2026, 11, 2)) == date(
        2026, 11, 16
    )


def test_never_seen_child_counts_from_plan_start():
    assert RULES["child_in_need"].next_due(date(2026, 11, 2), None) == date(2026, 11, 30)


def test_looked_after_first_week_then_six_weeks_then_three_months():
    start = date(2026, 1, 10)
    rule = RULES["looked_after"]
    assert rule.next_due(start, None) == date(2026, 1, 17)
    assert rule.next_due(start, date(2026, 1, 15)) == date(2026, 2, 26)
    assert rule.next_due(start, date(2027, 2, 1)) == date(2027, 5, 1)


def test_visit_before_plan_start_does_not_count():
    assert RULES["care_leaver"].next_due(date(2026, 6, 1), date(2026, 5, 1)) == date(2026, 8, 1)


def test_private_fostering_and_care_leaver():
    assert RULES["private_fostering"].next_due(date(2025, 1, 1), date(2026, 3, 1)) == date(
        2026, 5, 24
    )
    assert RULES["care_leaver"].next_due(date(2025, 1, 1), date(2026, 12, 31)) == date(2027, 2, 28)


def test_council_overrides_replace_a_rule():
    rules = rules_from_config({"child_protection": {"every": "5wd"}})
    assert rules["child_protection"].next_due(date(2026, 1, 5), date(2026, 11, 2)) == date(
        2026, 11, 9
    )
    assert set(rules) == set(PLAN_TYPES) == set(DEFAULT_RULES)


@given(start=days, count=st.integers(min_value=0, max_value=300))
def test_adding_working_days_lands_on_a_working_day_after_exactly_n(start, count):
    end = add_working_days(start, count)
    between = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(is_working_day(day) for day in between) == count
    assert count == 0 or is_working_day(end)


@given(a=st.integers(0, 200), b=st.integers(0, 200), start=days)
def test_working_days_are_monotonic(a, b, start):
    low, high = sorted((a, b))
    assert add_working_days(start, low) <= add_working_days(start, high)


@given(
    plan_type=st.sampled_from(PLAN_TYPES),
    plan_start=days,
    first_seen=st.integers(0, 1000),
    gap=st.integers(0, 400),
    never_seen=st.booleans(),
)
def test_a_seen_statutory_visit_never_makes_the_next_due_date_earlier(
    plan_type, plan_start, first_seen, gap, never_seen
):
    rule = RULES[plan_type]
    earlier = None if never_seen else plan_start + timedelta(days=first_seen)
    later = (earlier or plan_start) + timedelta(days=gap)
    assert rule.next_due(plan_start, later) >= rule.next_due(plan_start, earlier)


def test_the_app_builds_the_bank_holiday_calendar_before_any_request(tmp_path):
    # A fresh worker's first submission used to build it: 0.2 s of CPU in one request.
    from service import create_app
    from service.timescales import calendar

    calendar._bank_holidays.cache_clear()
    create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    assert calendar._bank_holidays.cache_info().currsize == 1
    assert date.today().year in calendar._bank_holidays().years
    assert not is_working_day(date(2031, 12, 25))  # other years still come when asked for
