"""Caseloads: cases and children from the core case system, with when each child is next due."""
