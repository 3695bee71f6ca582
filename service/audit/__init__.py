"""The audit trail: who read or changed which child's record, when, and from where."""
