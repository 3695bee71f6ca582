"""Retention and legal hold: each case's retention class and disposal date, holds, and purge."""
