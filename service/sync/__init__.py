"""Offline sync from tablets: batches of visit upserts and the changes a worker needs."""
