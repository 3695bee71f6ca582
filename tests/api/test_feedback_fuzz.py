"""The care-leaver form, fuzzed: whatever is posted, never a 500, and always a clear answer.

Hypothesis builds the posts: any subset of the form's fields and some it does not have, any
unicode (NUL, lone surrogates sent as the invalid UTF-8 they make, right-to-left marks), huge
values, repeated fields; a CSRF token that is right, missing, wrong or from another visitor;
the body labelled as a form, as JSON or as text; any ``lang`` and any ``invite``. The answer is
the thanks or help page (302), the form again with its errors (400, an error summary), or an
error page (4xx); nothing is stored without the visitor's own CSRF token.

``FUZZ_EXAMPLES`` sets the budget (five times it, at least 50 posts; ``make fuzz`` runs more).
"""

import os
import re
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.extensions import db
from service.feedback.models import Feedback
from tests.conftest import empty_database

EXAMPLES = max(int(os.environ.get("FUZZ_EXAMPLES") or "10") * 5, 50)
FIELDS = [
    "life_satisfaction",
    "worthwhile",
    "happy_yesterday",
    "anxious_yesterday",
    "settled",
    "trusted_person",
    "adviser_support",
    "coping_with_money",
    "safe_at_home",
    "anything_else",
    "wants_contact",
    "contact_name",
    "contact_detail",
    "urgent",
    "website",
]
SCALE = st.sampled_from([str(n) for n in range(11)] + ["-1", "11", "7.0", "\u0667", "0x7", "1e3"])
TEXT = st.text(max_size=300) | st.text(alphabet="\x00\u202e\ud800\ufeff\U0001f600 a", max_size=20)
HUGE = st.sampled_from(["x" * 2001, "\U0001f600" * 5000, "7" * 200_000, "a" * 1_100_000])
VALUES = SCALE | TEXT | HUGE | st.sampled_from(["y", "on", "true", ""])
PAIRS = st.lists(
    st.tuples(st.sampled_from(FIELDS) | st.text(max_size=20), VALUES),
    max_size=20,
)
CSRF = st.sampled_from(["own", "missing", "wrong", "another visitor's", "own, twice", "nul"])
CONTENT_TYPES = st.sampled_from(
    ["application/x-www-form-urlencoded"] * 4 + ["application/json", "text/plain", None]
)
QUERIES = st.fixed_dictionaries(
    {},
    optional={
        "lang": st.sampled_from(["en", "cy", "fr", "", "cy\x00"]) | st.text(max_size=10),
        "invite": st.sampled_from(["", "x", "eyJhbGciOiJub25lIn0.e30."]) | st.text(max_size=50),
    },
)


def token_for(client, path="/feedback"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def body(pairs, csrf, own, other):
    """The urlencoded body; a lone surrogate goes out as the invalid UTF-8 bytes it makes."""
    tokens = {
        "own": [own],
        "missing": [],
        "wrong": ["IjAwMDAi.aaaa.bbbb"],
        "another visitor's": [other],
        "own, twice": [own, own + "x"],
        "nul": [own + "\x00"],
    }[csrf]
    fields = [("csrf_token", token) for token in tokens] + pairs
    return urlencode(fields, encoding="utf-8", errors="surrogatepass").encode("ascii")


def feedback_rows(app):
    with app.app_context():
        count = db.session.query(Feedback).count()
        db.session.remove()
        return count


@given(pairs=PAIRS, csrf=CSRF, content_type=CONTENT_TYPES, query=QUERIES)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_whatever_is_posted_the_answer_is_clear_and_never_a_500(
    app, pairs, csrf, content_type, query
):
    empty_database(app)
    visitor, stranger = app.test_client(), app.test_client()
    own, other = token_for(visitor), token_for(stranger)
    path = "/feedback" + ("?" + urlencode(query, quote_via=quote) if query else "")
    before = feedback_rows(app)
    headers = {"Content-Type": content_type} if content_type else {}
    response = visitor.post(path, data=body(pairs, csrf, own, other), headers=headers)
    html = response.get_data(as_text=True)
    status = response.status_code
    assert status < 500, html[:500]
    assert status in (302, 400, 404, 410, 413), status
    if status == 302:
        assert response.headers["Location"].startswith("/feedback/")
    else:
        assert response.mimetype == "text/html"
        assert 'lang="' in html and "</html>" in html
    a_form = content_type in ("application/x-www-form-urlencoded", None)
    if status == 400 and "govuk-error-summary" not in html:
        # Not the form with its errors: a broken invite link, or a body that is not a form
        # (Flask-WTF reads a body labelled JSON as JSON: not JSON is the error page's 400).
        assert "invite" in query or not a_form, html[:500]
    stored = feedback_rows(app) - before
    if csrf not in ("own", "own, twice") or not a_form:
        assert stored == 0, (csrf, content_type)
    if stored:
        assert status == 302
