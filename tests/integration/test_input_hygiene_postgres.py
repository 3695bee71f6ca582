"""NUL and lone surrogates on PostgreSQL, where they used to reach the driver and fail as 500s.

The API tests walk every field (and run on PostgreSQL when ``DATABASE_URL`` names one); these
few run on PostgreSQL always, so the database that refuses NUL is never left untried.
"""

import json

import pytest
from sqlalchemy import select

from service.auth.models import User
from service.extensions import db
from tests.factories import PASSWORD, new_id, standalone_app

NUL = "I like it when Nan\x00 picks me up"
LONE_SURROGATE = "I like it when Nan\ud800 picks me up"


def send(client, method, path, body, headers=None):
    return client.open(
        f"/api/v1{path}",
        method=method,
        data=json.dumps(body),
        content_type="application/json",
        headers=headers or {},
    )


@pytest.mark.postgres
def test_nul_and_lone_surrogates_are_422s_on_postgres(postgres_database):
    _, client, headers, body = standalone_app({"SQLALCHEMY_DATABASE_URI": postgres_database})
    for bad in (NUL, LONE_SURROGATE):
        body["children"][0]["voice"]["own_words"] = bad
        response = send(client, "PUT", f"/visits/{new_id()}", body, headers)
        assert response.status_code == 422
        assert list(response.get_json()["errors"]) == ["children.0.voice.own_words"]
        sign_in = send(client, "POST", "/auth/token", {"username": bad, "password": PASSWORD})
        assert sign_in.status_code == 422 and list(sign_in.get_json()["errors"]) == ["username"]
        listed = client.get("/api/v1/visits?status=dra%00ft", headers=headers)
        assert listed.status_code == 422


@pytest.mark.postgres
def test_one_bad_sync_item_is_rejected_and_the_rest_are_kept_on_postgres(postgres_database):
    app, client, _, body = standalone_app({"SQLALCHEMY_DATABASE_URI": postgres_database})
    with app.app_context():
        username = db.session.scalar(select(User.username))
    token = send(
        client,
        "POST",
        "/auth/token",
        {"username": username, "password": PASSWORD, "device_id": "tablet-9"},
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    good, bad, also_good = new_id(), new_id(), new_id()
    bad_body = json.loads(json.dumps(body))
    bad_body["children"][0]["voice"]["own_words"] = NUL
    batch = {
        "device_id": "tablet-9",
        "visits": [
            {**body, "id": good},
            {**bad_body, "id": bad},
            {**body, "id": also_good, "submit": True},
        ],
    }
    response = send(client, "POST", "/sync", batch, headers)
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert [r["result"] for r in results] == ["created", "rejected", "created"]
    assert results[1]["errors"] == {
        "children.0.voice.own_words": [
            "Must not contain NUL characters or unpaired surrogates (U+D800-U+DFFF)."
        ]
    }
    assert client.get(f"/api/v1/visits/{good}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/visits/{bad}", headers=headers).status_code == 404
    again = send(client, "POST", "/sync", batch, headers)  # the receipt replays the same answer
    assert again.get_json()["results"] == results
