"""The desk page of alerts: your own, acknowledged with a button; managers see urgent ones."""

from tests.api.test_feedback_urgent import post
from tests.desk import desk_post, desk_sign_in
from tests.factories import URGENT_MESSAGE


def test_a_manager_opens_and_acknowledges_an_urgent_alert_on_the_desk(app, world, client):
    post(client, urgent="y", anything_else=URGENT_MESSAGE)
    desk = app.test_client()
    desk_sign_in(desk, world.usernames["manager"])
    page = desk.get("/desk/alerts")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Urgent: a care leaver has asked for help now" in html
    assert 'href="/desk/feedback/' in html and URGENT_MESSAGE not in html
    assert "Not yet" in html  # the urgent table: not acknowledged
    alert_id = html.split('name="alert_id" value="', 1)[1].split('"', 1)[0]
    done = desk_post(desk, "/desk/alerts/acknowledge", {"alert_id": alert_id}, "/desk/alerts")
    assert done.status_code == 302
    html = desk.get("/desk/alerts").get_data(as_text=True)
    assert "Not yet" not in html and 'name="alert_id"' not in html


def test_someone_elses_alert_is_a_404_page(app, world, client):
    post(client, urgent="y", anything_else=URGENT_MESSAGE)
    manager = app.test_client()
    desk_sign_in(manager, world.usernames["manager"])
    html = manager.get("/desk/alerts").get_data(as_text=True)
    alert_id = html.split('name="alert_id" value="', 1)[1].split('"', 1)[0]
    worker = app.test_client()
    desk_sign_in(worker, world.usernames["worker_a"])
    page = worker.get("/desk/alerts")
    assert page.status_code == 200 and "You have no alerts" in page.get_data(as_text=True)
    refused = desk_post(worker, "/desk/alerts/acknowledge", {"alert_id": alert_id}, "/desk/alerts")
    assert refused.status_code == 404
    refused = desk_post(worker, "/desk/alerts/acknowledge", {"alert_id": "x"}, "/desk/alerts")
    assert refused.status_code == 404
