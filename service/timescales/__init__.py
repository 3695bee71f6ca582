"""Statutory visit timescales: working days and the rules per plan type (DESIGN.md §4)."""

from service.timescales.calendar import add_working_days, is_working_day, local_date
from service.timescales.rules import (
    DEFAULT_RULES,
    PLAN_TYPES,
    TimescaleRule,
    next_visit_due,
    rules_from_config,
)

__all__ = [
    "DEFAULT_RULES",
    "PLAN_TYPES",
    "TimescaleRule",
    "add_working_days",
    "is_working_day",
    "local_date",
    "next_visit_due",
    "rules_from_config",
]
