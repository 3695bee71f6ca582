"""Alerts: telling the people who must act, without putting a child's details in the message."""
