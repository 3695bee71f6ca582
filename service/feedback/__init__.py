"""Care-leaver feedback: a short, accessible form (English and Welsh), invites, and triage."""
