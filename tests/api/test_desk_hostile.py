"""What a hostile tester typed into the desk pages: each a 4xx at the edge, never a 500
(DESIGN.md §9).
"""

from __future__ import annotations

import pytest

from tests.desk import desk_sign_in

FAR_OFF = "9999-12-31"


@pytest.fixture
def manager(client, world):
    desk_sign_in(client, world.usernames["manager"])
    return client


@pytest.mark.parametrize("path", ("/desk/audit", "/desk/audit.csv", "access-log"))
@pytest.mark.parametrize("name", ("until", "since"))
def test_a_date_too_far_off_is_a_form_error(manager, world, path, name):
    if path == "access-log":
        path = f"/desk/children/{world.child_ids['a1'][0]}/access-log"
    response = manager.get(f"{path}?{name}={FAR_OFF}", follow_redirects=True)
    assert response.status_code == 400
    assert "Enter a real date between" in response.get_data(as_text=True)


def test_the_api_refuses_a_date_too_far_off(sign_in, world):
    manager = sign_in(world.usernames["manager"])
    for path in ("/audit", f"/children/{world.child_ids['a1'][0]}/access-log"):
        response = manager.get(f"{path}?until={FAR_OFF}T23:59:59%2B00:00")
        assert response.status_code in (200, 422), (path, response.status_code)
