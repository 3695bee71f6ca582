"""'Sign in with <council>': the desk pages' OpenID Connect sign-in.

The authorization-code flow with PKCE, done by Authlib's Flask client
(``authlib.integrations.flask_client``): it reads the provider's discovery document, makes the
authorization URL with ``state``, ``nonce`` and an S256 code challenge, keeps those three in the
signed session cookie until the callback (one entry per sign-in in flight, for an hour),
exchanges the code with the client secret, and checks the ID token: its signature against the
provider's JWKS (fetched again when a new key id appears), issuer, audience, expiry, nonce and
``at_hash``. It does this over real HTTP, so the tests run it unchanged against a real provider.

Roles and the account come from :func:`service.auth.identity_provider.provision_user`, the same
function as the API's bearer tokens use. Claims the ID token leaves out (a conformant provider
puts profile claims only in userinfo) are read from the userinfo endpoint. Tokens are never
logged or kept: only the user's page session remains.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, has_request_context, redirect, request, session, url_for
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from service.auth import sign_in_audit, web_sessions
from service.auth.identity_provider import IdentityRefused, provision_user
from service.errors import NotFound
from service.extensions import SIGN_IN_SCOPE, db, limiter, login_rate_limit
from service.pages import PageBlueprint, render, safe_next

log = logging.getLogger(__name__)

CALLBACK_PATH = "/desk/sign-in/oidc/callback"
_NEXT_KEY = "oidc_next"
_CLIENT = "council"

blp = PageBlueprint("oidc_pages", __name__)

REFUSALS = {
    "no_role": "Your council account has no role in this service. Ask your manager or the "
    "service's administrator to give you one.",
    "inactive": "Your account in this service has been disabled. Ask the service's "
    "administrator if you need it again.",
    "no_username": "Your council's sign-in service did not say who you are. Ask the service's "
    "administrator to check its set-up.",
}
STATE = "This sign-in was not started here, or it took too long. Start again from the sign-in page."


class SignInProblem(Exception):
    """A sign-in that cannot finish; shown as a page with its own heading and advice."""

    def __init__(self, status: int, heading: str, message: str) -> None:
        super().__init__(heading)
        self.status, self.heading, self.message = status, heading, message


def init_app(app: Flask) -> None:
    """Register the council's provider with Authlib when ``OIDC_ISSUER`` is configured."""
    config = app.config
    if not config["OIDC_ISSUER"]:
        return
    # Authlib logs the PKCE code verifier at DEBUG: never, whatever the root level is.
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger().level))
    oauth = OAuth(app)
    oauth.register(
        _CLIENT,
        client_id=config["OIDC_CLIENT_ID"],
        client_secret=config["OIDC_CLIENT_SECRET"],
        server_metadata_url=config["OIDC_ISSUER"].rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": config["OIDC_SCOPES"],
            "code_challenge_method": "S256",
            "default_timeout": config["OIDC_TIMEOUT_SECONDS"],
        },
    )
    app.context_processor(_sign_in_button)


def _sign_in_button() -> dict[str, Any]:
    """``oidc_sign_in`` for ``desk/_oidc_sign_in.html``: the button's address and words."""
    if not has_request_context():
        return {}
    return {
        "oidc_sign_in": {
            "url": url_for("oidc_pages.start", next=safe_next(request.args.get("next"))),
            "text": button_text(),
        }
    }


def button_text() -> str:
    """The button's words: "Sign in with North Council"."""
    return f"Sign in with {current_app.config['OIDC_DISPLAY_NAME']}"


def redirect_uri() -> str:
    """The callback address the council registers for this service: from ``SERVICE_URL``."""
    return current_app.config["SERVICE_URL"].rstrip("/") + CALLBACK_PATH


def _client() -> Any:
    oauth = current_app.extensions.get("authlib.integrations.flask_client")
    if oauth is None:
        raise NotFound("page.not_found", "This page does not exist.")
    return oauth.create_client(_CLIENT)


def _unavailable() -> SignInProblem:
    return SignInProblem(
        503,
        "Sorry, you cannot sign in with your council account just now",
        f"The sign-in service of {current_app.config['OIDC_DISPLAY_NAME']} cannot be reached. "
        "Try again in a few minutes, or sign in with a username and password if you have one.",
    )


def _problem_page(problem: SignInProblem) -> Response:
    response: Response = render(
        "desk/sign_in_problem.html",
        status=problem.status,
        heading=problem.heading,
        message=problem.message,
    )
    if problem.status == 503:
        response.headers["Retry-After"] = "60"
    return response


@blp.get("/sign-in/oidc")
@limiter.shared_limit(login_rate_limit, scope=SIGN_IN_SCOPE)
def start() -> Response:
    """Send the browser to the council's sign-in page (authorization code, PKCE S256)."""
    client = _client()
    session[_NEXT_KEY] = safe_next(request.args.get("next"))
    # Discovery afresh for every sign-in (Authlib would keep the first answer for the process's
    # life): a provider that is down is our 503 page here rather than the browser's error there,
    # and a changed endpoint is followed. The keys stay cached (refetched for a new key id).
    client.server_metadata.pop("_loaded_at", None)
    try:
        response: Response = client.authorize_redirect(redirect_uri())
    except requests.RequestException as error:
        log.warning("OIDC provider unreachable at sign-in start: %s", type(error).__name__)
        return _problem_page(_unavailable())
    return response


@blp.get("/sign-in/oidc/callback")
def callback() -> Response:
    """Finish the sign-in: exchange the code, verify the ID token, map the role, sign in."""
    client = _client()
    target = safe_next(session.pop(_NEXT_KEY, None))
    try:
        user = provision_user(_verified_claims(client))
    except SignInProblem as problem:
        return _problem_page(problem)
    except IdentityRefused as refused:
        log.info("OIDC sign-in refused: %s", refused.reason)
        db.session.rollback()
        sign_in_audit.provider_refused(refused.reason)
        return _problem_page(
            SignInProblem(403, "You cannot use this service", REFUSALS[refused.reason])
        )
    web_sessions.begin(user, via="oidc")
    return redirect(target)


def _verified_claims(client: Any) -> dict[str, Any]:
    failed = "Sign-in failed"
    try:
        token = client.authorize_access_token(
            claims_options={"iss": {"essential": True, "value": current_app.config["OIDC_ISSUER"]}}
        )
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise SignInProblem(400, failed, "The council's sign-in service sent no ID token.")
        if _missing_claims(claims):
            extra = client.userinfo(token=token)
            if extra.get("sub") != claims.get("sub"):
                raise SignInProblem(400, failed, "The sign-in named two different people.")
            claims = {**extra, **claims}
    except MismatchingStateError:
        raise SignInProblem(400, failed, STATE) from None
    except OAuthError as error:
        log.info("OIDC sign-in failed: %s", error.error)
        raise SignInProblem(
            400,
            failed,
            "Your council's sign-in service did not sign you in. Start again from the sign-in "
            "page.",
        ) from None
    except JoseError as error:
        log.warning("OIDC ID token refused: %s", type(error).__name__)
        raise SignInProblem(
            400, failed, "The answer from the sign-in service could not be verified."
        ) from None
    except requests.RequestException as error:
        log.warning("OIDC provider unreachable at callback: %s", type(error).__name__)
        raise _unavailable() from None
    return claims


def _missing_claims(claims: dict[str, Any]) -> bool:
    config = current_app.config
    wanted = (config["JWT_OIDC_USERNAME_CLAIM"], config["JWT_OIDC_ROLES_CLAIM"])
    return any(name not in claims for name in wanted)
