"""The mixed-load benchmark's parts: a council to serve, tablets and supervisors, and the tally.

A **tablet** is a social worker's device (``Tablet``): it signs in with its device id,
then, round after round, pulls its caseload (``GET /cases``), pulls what changed since its
cursor (``POST /sync`` with no visits), re-submits any visit a supervisor returned (one sync
batch), records a new visit as a draft through sync naming the photo it holds, uploads the photo
(``POST /visits/{id}/attachments``, as ``missing_attachments`` asks), and submits the visit in a
second batch, as DESIGN.md's tablet contract describes. A **supervisor** (``supervisor_loop``)
reads the review queue and the overdue list, opens each waiting visit (its ``ETag``), its
attachments and every few visits the photo, and approves it with ``If-Match`` (one in ten is
returned with a comment, which reaches the tablet in its next sync).

Every request is timed and filed under its templated path (``POST /api/v1/visits/{id}/submit``)
by ``Tally``: 2xx are fine, 409/412 are conflicts (expected under contention and counted apart),
anything else is an error, and a request that raised is an error with status 0.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from tests.factories import PASSWORD

API = "/api/v1"
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CONFLICTS = (409, 412)
CASES_PER_WORKER = 8  # one or two children each: 12 children per caseload
RETURN_EVERY = 10  # a supervisor returns one visit in ten (the 1st, 11th, ...) with a comment
PHOTO_EVERY = 3  # a supervisor opens the photo of one visit in three
IDLE_SECONDS = 0.5  # a supervisor with an empty queue looks again after this


def template(path: str) -> str:
    """The path with ids and the query taken out: ``/api/v1/visits/{id}/submit``."""
    return UUID_PATTERN.sub("{id}", path.split("?", 1)[0])


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (``share`` between 0 and 1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


@dataclass
class Problem:
    """One error response, kept to explain a failure."""

    endpoint: str
    status: int
    detail: str


@dataclass(frozen=True)
class Sample:
    """One request: what, when it started (``time.monotonic``), how long, and the answer."""

    endpoint: str
    started: float
    seconds: float
    status: int


@dataclass
class Tally:
    """Every request's endpoint, status and latency, from many threads.

    ``signed_in`` holds the moment each person got their token, so a report can leave out the
    sign-in storm at the start (``report(since=...)``).
    """

    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    signed_in: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, endpoint: str, started: float, status: int, detail: str = "") -> None:
        """Record one request that began at ``started`` (status 0: it raised, no answer)."""
        sample = Sample(endpoint, started, time.monotonic() - started, status)
        with self.lock:
            self.samples.append(sample)
            if not 200 <= status < 300 and status not in CONFLICTS:
                self.problems.append(Problem(endpoint, status, detail[:300]))

    def count(self, event: str, number: int = 1) -> None:
        """Count a domain event (visits submitted, approved, ...)."""
        with self.lock:
            self.events[event] += number

    def report(self, seconds: float, since: float | None = None) -> dict[str, Any]:
        """Per endpoint and in total: count, requests/s over ``seconds``, p50/p95/p99 (ms),
        conflicts, errors; only requests started at or after ``since``, if given.
        """
        latencies: dict[str, list[float]] = defaultdict(list)
        statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for sample in self.samples:
            if since is None or sample.started >= since:
                latencies[sample.endpoint].append(sample.seconds)
                statuses[sample.endpoint][sample.status] += 1
        rows = {}
        everything: list[float] = []
        totals = {"count": 0, "ok": 0, "conflicts": 0, "errors": 0, "server_errors": 0}
        for endpoint in sorted(latencies, key=_endpoint_order):
            row = _row(latencies[endpoint], statuses[endpoint], seconds)
            rows[endpoint] = row
            everything += latencies[endpoint]
            for key in totals:
                totals[key] += row[key]
        total = {**_row(everything, {}, seconds), **totals}
        return {
            "seconds": round(seconds, 1),
            "endpoints": rows,
            "total": total,
            "events": dict(self.events),
        }


def _endpoint_order(endpoint: str) -> tuple[str, str]:
    method, path = endpoint.split(" ", 1)
    return (path, method)


def _row(latencies: list[float], statuses: dict[int, int], seconds: float) -> dict[str, Any]:
    def ms(share: float) -> float:
        return round(percentile(latencies, share) * 1000, 1) if latencies else 0.0

    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    conflicts = sum(n for status, n in statuses.items() if status in CONFLICTS)
    return {
        "count": len(latencies),
        "requests_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": ms(0.50),
        "p95_ms": ms(0.95),
        "p99_ms": ms(0.99),
        "max_ms": round(max(latencies) * 1000, 1) if latencies else 0.0,
        "ok": ok,
        "conflicts": conflicts,
        "errors": len(latencies) - ok - conflicts,
        "server_errors": sum(n for status, n in statuses.items() if status >= 500),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
    }


def table(report: dict[str, Any]) -> str:
    """The report as a fixed-width table for the terminal (and the README).

    ``alone p50`` is the same endpoint's median with one tablet and nothing else running.
    """
    head = (
        f"{'endpoint':<44} {'count':>6} {'req/s':>6} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'409/412':>7} {'errors':>6} {'alone p50':>9}"
    )
    lines = [head, "-" * len(head)]
    rows = [*report["endpoints"].items(), ("total", report["total"])]
    for endpoint, row in rows:
        lines.append(
            f"{endpoint:<44} {row['count']:>6} {row['requests_per_second']:>6} "
            f"{row['p50_ms']:>7} {row['p95_ms']:>7} {row['p99_ms']:>7} "
            f"{row['conflicts']:>7} {row['errors']:>6} {row.get('alone_p50_ms') or '':>9}"
        )
    return "\n".join(lines)


# --- The council ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Council:
    """Who signs in: one username per tablet (a worker) and per supervisor."""

    workers: list[str]
    supervisors: list[str]
    children: int


def build_council(tablets: int, workers_per_team: int = 10) -> Council:
    """Teams of ``workers_per_team`` workers and a supervisor; 8 cases and 12 children each.

    Runs inside an app context (``harness.prepare_database``). Every user has the same password
    hash (one argon2 hash at the configured cost, so signing in costs what it costs in
    production) to keep seeding quick.
    """
    from service.auth.models import User
    from service.auth.passwords import hash_password
    from service.extensions import db
    from tests.factories import make_case, make_child, make_team

    password_hash = hash_password(PASSWORD)

    def user(role: str, username: str, team: Any) -> str:
        db.session.add(
            User(
                username=username,
                display_name=username.replace("-", " ").title(),
                role=role,
                password_hash=password_hash,
                teams=[team],
            )
        )
        return username

    workers: list[str] = []
    supervisors: list[str] = []
    children = 0
    teams = -(-tablets // workers_per_team)
    for number in range(teams):
        team = make_team(f"bench-team-{number + 1}")
        supervisors.append(user("supervisor", f"bench-supervisor-{number + 1}", team))
        for _ in range(min(workers_per_team, tablets - len(workers))):
            username = user("social_worker", f"bench-worker-{len(workers) + 1}", team)
            db.session.flush()
            worker = db.session.scalars(db.select(User).where(User.username == username)).one()
            workers.append(username)
            for index in range(CASES_PER_WORKER):
                kids = [
                    make_child(
                        plan_type=("child_protection", "child_in_need", "looked_after")[index % 3],
                        date_of_birth=date(2012 + index % 8, 1 + index, 10),
                        plan_start_date=date.today() - timedelta(days=30 + 11 * index),
                    )
                    for _ in range(1 + index % 2)
                ]
                children += len(kids)
                make_case(team, worker, kids)
    return Council(workers, supervisors, children)


# --- The simulated people ------------------------------------------------------------------


def photo_bytes(seed: int) -> bytes:
    """A small JPEG (640 x 480, about 50 KB) that differs from tablet to tablet."""
    from PIL import Image, ImageDraw

    generator = random.Random(seed)
    image = Image.new("RGB", (640, 480), (generator.randrange(256), 120, 90))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = generator.randrange(640), generator.randrange(480)
        colour = tuple(generator.randrange(256) for _ in range(3))
        draw.rectangle((x, y, x + generator.randrange(10, 120), y + 40), fill=colour)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


class Client:
    """One simulated device's HTTP session (connection reuse when the server keeps it open)."""

    def __init__(self, base_url: str, tally: Tally) -> None:
        self.base_url = base_url
        self.tally = tally
        self.session = requests.Session()
        self.token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        label: str = "",
    ) -> requests.Response | None:
        """Send one request and tally it (under its template, plus ``label``); None when it
        raised (counted as an error).
        """
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        endpoint = f"{method} {template(API + path)}{label}"
        started = time.monotonic()
        try:
            response = self.session.request(
                method, self.base_url + API + path, json=json, data=data, headers=headers,
                timeout=120,
            )  # fmt: skip
        except requests.RequestException as error:
            self.tally.add(endpoint, started, 0, repr(error))
            return None
        self.tally.add(endpoint, started, response.status_code, response.text)
        return response

    def sign_in(self, username: str, device_id: str | None = None) -> bool:
        """``POST /auth/token``; keeps the access token."""
        body = {"username": username, "password": PASSWORD}
        if device_id:
            body["device_id"] = device_id
        response = self.call("POST", "/auth/token", json=body)
        if response is None or response.status_code != 200:
            return False
        self.token = response.json()["access_token"]
        with self.tally.lock:
            self.tally.signed_in.append(time.monotonic())
        return True

    def close(self) -> None:
        """Close the device's connections."""
        self.session.close()


def visit_from_caseload(case: dict[str, Any], number: int) -> dict[str, Any]:
    """A complete visit to ``case`` as the tablet builds it from the caseload it pulled."""
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2, minutes=number % 50)
    return {
        "case_id": case["id"],
        "visit_type": "statutory",
        "announced": number % 2 == 0,
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=50)).isoformat(),
        "location": "family_home",
        "people_present": ["Mother"],
        "children": [
            {
                "child_id": child["id"],
                "seen": True,
                "seen_alone": True,
                "bedroom_seen": True,
                "voice": {
                    "own_words": "I like my new school and my bike.",
                    "scale": {
                        "score": 7,
                        "question": "How safe do you feel?",
                        "scored_by": "child",
                    },
                    "method": "talking",
                    "consent_to_share": True,
                },
            }
            for child in case["children"]
        ],
        "observations": "Home warm and tidy.",
        "analysis": "No new concerns.",
        "next_actions": "Visit again within 10 working days.",
    }


class Tablet:
    """A social worker's tablet: its session, device id, cursor and the visits it holds."""

    def __init__(self, base_url: str, username: str, number: int, tally: Tally) -> None:
        self.client = Client(base_url, tally)
        self.tally = tally
        self.username = username
        self.number = number
        self.device_id = f"bench-tablet-{number}"
        self.photo = photo_bytes(number)
        self.photo_sha = hashlib.sha256(self.photo).hexdigest()
        self.cursor: str | None = None
        self.held: dict[str, dict[str, Any]] = {}  # visit id -> the item as the tablet holds it
        self.returned: list[dict[str, Any]] = []  # returned visits heard of, not yet re-sent

    def sync(self, visits: list[dict[str, Any]]) -> dict[str, Any] | None:
        """``POST /sync`` from the cursor; remembers the new cursor and any returned visits.

        Tallied as ``(pull)`` without visits and ``(push)`` with them.
        """
        response = self.client.call(
            "POST",
            "/sync",
            json={"device_id": self.device_id, "cursor": self.cursor, "visits": visits},
            label=" (push)" if visits else " (pull)",
        )
        if response is None or response.status_code != 200:
            return None
        answer: dict[str, Any] = response.json()
        self.cursor = answer["cursor"]
        self.returned += answer["changes"]["returned_visits"]
        for result in answer["results"]:
            self.tally.count(f"sync item {result['result']}")
            if result["result"] in ("rejected", "conflict"):
                with self.tally.lock:
                    self.tally.problems.append(
                        Problem("POST /api/v1/sync (item)", 200, str(result)[:300])
                    )
        return answer

    def resubmit_returned(self) -> None:
        """Answer the supervisors: each returned visit of ours, amended and submitted again."""
        pending, self.returned = self.returned, []
        items = []
        for returned in {visit["id"]: visit for visit in pending}.values():
            held = self.held.get(returned["id"])
            if held is None or returned["status"] != "returned":
                continue
            item = {
                **held,
                "observations": held["observations"] + " Added what was asked in review.",
                "base_version": returned["version"],
                "submit": True,
            }
            self.held[returned["id"]] = item
            items.append(item)
        if items and self.sync(items) is not None:
            self.tally.count("visits resubmitted after return", len(items))

    def record_visit(self, case: dict[str, Any], number: int) -> None:
        """A new visit: a draft naming its photo, the photo, then the submission."""
        visit_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
        body = visit_from_caseload(case, number)
        draft = {**body, "id": visit_id, "submit": False, "attachment_ids": [photo_id]}
        answer = self.sync([draft])
        if answer is None or answer["results"][0]["result"] != "created":
            return
        self.held[visit_id] = draft
        if photo_id in answer["results"][0].get("missing_attachments", []):
            uploaded = self.client.call(
                "POST",
                f"/visits/{visit_id}/attachments",
                data=self.photo,
                headers={
                    "Content-Type": "image/jpeg",
                    "X-Attachment-Id": photo_id,
                    "X-Attachment-Kind": "photo",
                    "X-Filename": "bedroom.jpg",
                    "X-Child-Id": body["children"][0]["child_id"],
                    "X-Content-SHA256": self.photo_sha,
                },
            )
            if uploaded is None or uploaded.status_code != 201:
                return
            self.tally.count("photos uploaded")
        submit = {**draft, "base_version": answer["results"][0]["version"], "submit": True}
        self.held[visit_id] = submit
        answer = self.sync([submit])
        if answer is not None and answer["results"][0]["result"] == "updated":
            self.tally.count("visits submitted")

    def run(self, *, start_at: float, stop_at: float, rounds: int) -> None:
        """Sign in, then round after round: caseload, changes, returned visits, a new visit."""
        time.sleep(max(0.0, start_at - time.monotonic()))
        try:
            if not self.client.sign_in(self.username, self.device_id):
                return
            done = 0
            while time.monotonic() < stop_at and (rounds == 0 or done < rounds):
                done += 1
                caseload = self.client.call("GET", "/cases?page_size=100")
                if caseload is None or caseload.status_code != 200:
                    time.sleep(IDLE_SECONDS)
                    continue
                cases = caseload.json()
                if self.sync([]) is None:
                    time.sleep(IDLE_SECONDS)
                    continue
                self.resubmit_returned()
                if cases:
                    self.record_visit(cases[(self.number + done) % len(cases)], self.number + done)
        finally:
            self.client.close()


def supervisor_loop(
    base_url: str, username: str, tally: Tally, *, start_at: float, stop_at: float
) -> None:
    """One supervisor: read the queue and the overdue list; open, look at and decide visits."""
    client = Client(base_url, tally)
    time.sleep(max(0.0, start_at - time.monotonic()))
    decided = looks = 0
    try:
        if not client.sign_in(username):
            return
        while time.monotonic() < stop_at:
            looks += 1
            queue = client.call("GET", "/reviews/queue?page_size=20")
            if queue is None or queue.status_code != 200:
                time.sleep(IDLE_SECONDS)
                continue
            items = queue.json()
            if looks % 3 == 1:
                client.call("GET", "/oversight/overdue?page_size=50")
            if not items:
                time.sleep(IDLE_SECONDS)
                continue
            for item in items[:5]:
                if time.monotonic() >= stop_at:
                    break
                decided += 1
                _decide(client, item["id"], decided)
    finally:
        client.close()


def _decide(client: Client, visit_id: str, decided: int) -> None:
    visit = client.call("GET", f"/visits/{visit_id}")
    if visit is None or visit.status_code != 200:
        return
    attachments = client.call("GET", f"/visits/{visit_id}/attachments")
    if attachments is not None and attachments.status_code == 200 and decided % PHOTO_EVERY == 0:
        for attachment in attachments.json()[:1]:
            client.call("GET", f"/attachments/{attachment['id']}/content")
    decision: dict[str, Any] = {"decision": "approve"}
    if decided % RETURN_EVERY == 1:
        decision = {"decision": "return", "comment": "Please add what they said about school."}
    answer = client.call(
        "POST",
        f"/visits/{visit_id}/review",
        json=decision,
        headers={"If-Match": visit.headers.get("ETag", "")},
    )
    if answer is not None and answer.status_code == 201:
        client.tally.count("visits approved" if decision["decision"] == "approve" else "returned")


def run_people(jobs: list[Callable[[], None]]) -> None:
    """Run each simulated person on its own thread and wait for all of them."""
    threads = [threading.Thread(target=job, daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
