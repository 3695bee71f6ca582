"""Supervisor review: the queue, decisions, and management decisions when a child was not seen."""
