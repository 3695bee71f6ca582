"""A live server on loopback and headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests.factories import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _closing(app):  # type: ignore[no-untyped-def]
    """``app``, with each response's iterable closed even when the client drops the connection.

    Chromium cancels a favicon it no longer needs when the page navigates; werkzeug's development
    server then fails inside its own clean-up and never closes the response, and the file being
    sent is left to the garbage collector, whose ResourceWarning fails whichever test is
    running (seen once in CI on the GOV.UK favicon). A generator left unfinished is closed when
    it is dropped, and closes the response with it.
    """

    def closing_app(environ, start_response):  # type: ignore[no-untyped-def]
        iterable = app(environ, start_response)
        try:
            yield from iterable
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()

    return closing_app


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = make_server("127.0.0.1", 0, _closing(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"Chromium is missing at {CHROMIUM}; `make test` installs it")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server)
    tab = context.new_page()
    yield tab
    context.close()


SERIOUS = ("serious", "critical")


def at_desk_start(url: str) -> bool:
    """Whether ``url`` is the desk's start page (not the sign-in page asking to come back to it)."""
    return urlsplit(url).path == "/desk/"


def serious_violations(tab) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical violations on the page: (rule, impact, nodes)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(tab)
    return [
        (violation["id"], violation["impact"], len(violation["nodes"]))
        for violation in results.response["violations"]
        if violation["impact"] in SERIOUS
    ]


def screenshot(tab, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Keep a full-page screenshot as a test artefact (``test-artifacts/<name>.png``)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


def sign_in_through_the_form(tab, username: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    """Sign in on the desk's sign-in page as a person would, and land on the start page."""
    tab.goto("/desk/sign-in")
    tab.fill("#username", username)
    tab.fill("#password", password)
    tab.click("button:has-text('Sign in')")
    tab.wait_for_url(at_desk_start)


@pytest.fixture
def signed_in(page):  # type: ignore[no-untyped-def]
    """``signed_in(username)`` signs the fixture's page in through the form; returns the page."""

    def _signed_in(username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        sign_in_through_the_form(page, username, password)
        return page

    return _signed_in


TABLES_OVERFLOWING = """() => [...document.querySelectorAll('main table.govuk-table')].filter(table => {
  const box = table.closest('.app-table-scroll[role="region"][tabindex="0"][aria-label]');
  return !box || getComputedStyle(box).overflowX !== 'auto';
}).map(table => table.caption ? table.caption.innerText : table.id || table.className)"""


def tables_scroll_in_their_boxes(tab, widths=(1280, 375)) -> None:  # type: ignore[no-untyped-def]
    """At each width every table is in a focusable, labelled box that scrolls sideways, and the
    page itself never does (the hidden text in a table's cells stays inside its box).
    """
    size = tab.viewport_size
    for width in widths:
        tab.set_viewport_size({"width": width, "height": 900})
        assert tab.evaluate(TABLES_OVERFLOWING) == [], f"tables not in a scroll box at {width}"
        page_width = tab.evaluate("document.documentElement.scrollWidth")
        assert page_width <= width, f"the page scrolls sideways at {width}: {page_width}"
    tab.set_viewport_size(size)


@pytest.fixture
def tablet(browser, live_server):  # type: ignore[no-untyped-def]
    """A tablet-sized page with touch, its console errors collected on ``tab.errors``."""
    context = browser.new_context(
        base_url=live_server,
        viewport={"width": 820, "height": 1180},
        has_touch=True,
        is_mobile=False,
    )
    tab = context.new_page()
    tab.errors = []  # type: ignore[attr-defined]
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.on(
        "console",
        lambda message: tab.errors.append(message.text) if message.type == "error" else None,
    )
    yield tab
    context.close()
