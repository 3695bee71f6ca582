"""Seen and Heard: the service behind the social workers' home-visit tablet app."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import FunctionType, MethodType
from typing import Any

from flask import Flask, has_app_context, redirect, send_from_directory, url_for
from sqlalchemy.orm import configure_mappers

from service import database, errors, pages, request_limits
from service.api import api, use_authenticator, use_role_refusal_recorder
from service.config import ConfigError, load_settings
from service.extensions import (
    db,
    limiter,
    migrate,
    rate_limit_storage_options,
    skip_idle_limit_check,
)
from service.pages import use_page_authenticator
from service.timescales.calendar import load_bank_holidays
from storage import EvidenceStore, StorageError, open_store

API_PREFIX = "/api/v1"
# Far more than the functions an app registers; a bound, in case something registers anew.
_SYNC_CHECKS_KEPT = 2000


# What ensure_sync's answer is remembered for: a plain function, a bound method and a partial,
# whose answer is their function's, which none of them can change.
_SYNC_CHECKED_TYPES = (FunctionType, MethodType, partial)


class _App(Flask):
    """Flask, asking once per function whether it is a coroutine function.

    Flask asks ``ensure_sync`` that of every view, before- and after-request function on every
    request (about twenty-five times for a visit create, 1.5% of its CPU), and the answer
    never changes for a plain function, nor for a bound method or a partial of one (the
    extensions' hooks: flask-limiter's, Flask-SQLAlchemy's).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_checked: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's answer, remembered for plain functions, bound methods and partials."""
        if type(func) not in _SYNC_CHECKED_TYPES:
            return super().ensure_sync(func)
        checked = self._sync_checked.get(func)  # a method hashes by its object's identity
        if checked is None:
            checked = super().ensure_sync(func)
            if len(self._sync_checked) < _SYNC_CHECKS_KEPT:
                self._sync_checked[func] = checked
        return checked

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Flask's, noting first whether the request will push an app context of its own (it
        does unless one is active already, as in a test holding one; under gunicorn always):
        its session is then its own, which lets the final commit skip expiring its objects
        (:func:`service.database.commit_unit_of_work`).
        """
        environ[database.OWNS_APP_CONTEXT] = not has_app_context()
        return super().wsgi_app(environ, start_response)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the application: settings from the environment, then ``config`` overrides."""
    app = _App(__name__, instance_relative_config=True)
    instance_path = Path(app.instance_path)
    instance_path.mkdir(parents=True, exist_ok=True)
    settings = load_settings(instance_path=instance_path, overrides=config)
    app.config.from_mapping(settings.as_flask_config())
    app.config.update(_api_doc_config())
    # Bound parameters are children's words and care leavers' contact details: never in a log.
    # No pool_pre_ping: service/database.py checks only connections that sat idle.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["DATABASE_TIMEOUT_SECONDS"]
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logging.basicConfig(level=logging.INFO)

    db.init_app(app)
    migrate.init_app(app, db)
    app.config["RATELIMIT_STORAGE_OPTIONS"] = rate_limit_storage_options(app.config)
    limiter.init_app(app)
    api.init_app(app)
    errors.init_app(app)
    pages.init_app(app)
    database.init_app(app)
    app.extensions["evidence_store"] = _evidence_store(app.config)
    _register_features(app)
    request_limits.init_app(app)
    _serve_api_doc_assets(app)
    skip_idle_limit_check(app)
    _prepare_before_serving()
    # Everything built so far (the app, mappers, schemas) lives as long as the process; frozen,
    # the collector's full sweeps skip it. Measured: chronology p95 44 -> 24 ms (README).
    gc.freeze()
    return app


def _evidence_store(config: Mapping[str, Any]) -> EvidenceStore:
    """The evidence store ``EVIDENCE_STORE`` names; a local folder that cannot be used (a file
    there, no permission) is a configuration error naming the setting, not a traceback.
    """
    try:
        return open_store(config["EVIDENCE_STORE"], config)
    except StorageError as error:
        raise ConfigError(f"EVIDENCE_STORE: {error}") from None


def _prepare_before_serving() -> None:
    """Do now, once per process, the work a fresh worker's first requests used to do: the
    mappers' configuration and the bank-holiday calendar (about 0.2 s of CPU on the first
    submission). Under load those first requests were the slowest of a benchmark run (README,
    "Visit create under load").
    """
    configure_mappers()
    load_bank_holidays()


def _api_doc_config() -> dict[str, Any]:
    return {
        "API_TITLE": "Seen and Heard API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": API_PREFIX,
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": f"{API_PREFIX}/docs/assets/",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": (
                    "Home visits to children: whether each child was seen and seen alone, "
                    "the child's own words, and the evidence. Errors are RFC 9457 "
                    "problem+json with a stable `code`."
                )
            }
        },
    }


def _serve_api_doc_assets(app: Flask) -> None:
    """Serve Swagger UI from the installed package: the docs load nothing from the internet."""
    import swagger_ui_bundle

    assets = swagger_ui_bundle.swagger_ui_path

    @app.get(f"{API_PREFIX}/docs/assets/<path:filename>")
    def api_doc_assets(filename: str) -> Any:
        """Swagger UI's static files."""
        return send_from_directory(assets, filename)


def _to_the_desk() -> Any:
    """The site's root: people arriving here want the desk pages."""
    return redirect(url_for("auth_pages.home"))


def _register_features(app: Flask) -> None:
    """Bind the features to ``app``: blueprints, error pages, the API's token check, commands.

    The only place that imports route modules (import-linter keeps it so). Imports are local so
    that importing any ``service`` module does not pull in every feature.
    """
    from service import policy
    from service.alerts import cli as alerts_cli
    from service.alerts import events as alerts
    from service.alerts import pages as alerts_pages
    from service.alerts.routes import blp as alerts_blp
    from service.audit import cli as audit_cli
    from service.audit import pages as audit_pages
    from service.audit import trail as audit_trail
    from service.audit.routes import blp as audit_blp
    from service.auth import admin_pages, oidc_pages, web_sessions
    from service.auth import cli as auth_cli
    from service.auth import pages as auth_pages
    from service.auth.routes import blp as auth_blp
    from service.auth.tokens import authenticate_request
    from service.cases import cli as cases_cli
    from service.cases.routes import blp as cases_blp
    from service.core_system import cli as outbox_cli
    from service.core_system import outbox
    from service.core_system import pages as outbox_pages
    from service.core_system.routes import blp as outbox_blp
    from service.demo import cli as demo_cli
    from service.devices import pages as devices_pages
    from service.devices.routes import blp as devices_blp
    from service.evidence import cli as evidence_cli
    from service.evidence import operations as evidence
    from service.evidence import pages as evidence_pages
    from service.evidence.routes import blp as evidence_blp
    from service.feedback import manager_pages as feedback_manager_pages
    from service.feedback import pages as feedback_pages
    from service.feedback.routes import blp as feedback_blp
    from service.health import blp as health_blp
    from service.oversight import copies
    from service.oversight import pages as oversight_pages
    from service.oversight.routes import blp as oversight_blp
    from service.retention import cli as retention_cli
    from service.retention import operations as retention
    from service.retention.routes import blp as retention_blp
    from service.reviews import pages as reviews_pages
    from service.reviews.routes import blp as reviews_blp
    from service.subject_access import cli as subject_access_cli
    from service.subject_access.routes import blp as subject_access_blp
    from service.sync import changes
    from service.sync.routes import blp as sync_blp
    from service.tablet.routes import blp as tablet_blp
    from service.visits import cli as visits_cli
    from service.visits import derived, lifecycle, trail
    from service.visits import pages as visits_pages
    from service.visits.routes import blp as visits_blp

    use_authenticator(app, authenticate_request)
    use_role_refusal_recorder(app, policy.role_refused)
    use_page_authenticator(app, web_sessions.signed_in_user)
    audit_trail.init_app(app)
    # Subscribers to the visit's life, each owned by its feature.
    for subscriber in (lifecycle, derived, copies, trail, evidence, changes, outbox, retention):
        subscriber.init_app(app)
    alerts.init_app(app)
    for blueprint in (
        auth_blp,
        devices_blp,
        cases_blp,
        visits_blp,
        evidence_blp,
        sync_blp,
        reviews_blp,
        oversight_blp,
        feedback_blp,
        outbox_blp,
        audit_blp,
        retention_blp,
        subject_access_blp,
        alerts_blp,
    ):
        api.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(health_blp)
    app.register_blueprint(feedback_pages.blp)
    app.register_blueprint(tablet_blp)  # the tablet app at /app
    # The desk pages (service/pages.py): the navigation lists them in this order.
    oidc_pages.init_app(app)
    page_blueprints = (
        auth_pages.blp,
        oidc_pages.blp,
        reviews_pages.blp,
        oversight_pages.blp,
        visits_pages.blp,
        evidence_pages.blp,
        feedback_manager_pages.blp,
        audit_pages.blp,
        admin_pages.blp,
        devices_pages.blp,
        outbox_pages.blp,
        alerts_pages.blp,
    )
    for page_blueprint in page_blueprints:
        app.register_blueprint(page_blueprint)
    app.add_url_rule("/", "root", _to_the_desk)
    errors.register_error_pages(app, "/feedback", feedback_pages.error_page)
    for cli_group in (
        auth_cli.users,
        cases_cli.cases,
        demo_cli.demo,
        evidence_cli.evidence,
        visits_cli.visits,
        outbox_cli.outbox,
        audit_cli.audit,
        retention_cli.retention,
        subject_access_cli.children,
        alerts_cli.alerts,
    ):
        app.cli.add_command(cli_group)
    # Every command, Flask-Migrate's `db` too: a database that does not answer is a message.
    database.explain_database_failures(app.cli)
