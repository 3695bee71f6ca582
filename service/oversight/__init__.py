"""Oversight: overdue children, service-wide counts, and each child's chronology."""
