"""Visits: whether each child was seen and seen alone, the child's own words, and the history."""
