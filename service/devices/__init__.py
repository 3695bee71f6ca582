"""Registered tablets: list them, and revoke a lost one so its tokens stop working at once."""
