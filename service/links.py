"""Absolute links we hand out, made from configuration, never from the request.

A link in an invite travels to a care leaver by text or email. Built from the ``Host`` header,
a caller could make the service hand out a link to a look-alike site, so every absolute link
starts with ``PUBLIC_BASE_URL``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute address of ``endpoint`` under ``PUBLIC_BASE_URL`` (outside production,
    ``SERVICE_URL`` when it is not set).
    """
    config = current_app.config
    base = str(config["PUBLIC_BASE_URL"] or config["SERVICE_URL"]).rstrip("/")
    return base + url_for(endpoint, **values)


def public_link(path: str) -> str:
    """``path`` (a path in this service, e.g. ``/desk/feedback/…``) under ``PUBLIC_BASE_URL``,
    for a link that leaves the service in a message.
    """
    config = current_app.config
    base = str(config["PUBLIC_BASE_URL"] or config["SERVICE_URL"]).rstrip("/")
    return base + "/" + path.lstrip("/")


def path_for(endpoint: str, **values: Any) -> str:
    """The path of ``endpoint`` with ``values``, with or without a request (a worker has none)."""
    adapter = current_app.url_map.bind("localhost", script_name="/")
    return str(adapter.build(endpoint, values))
