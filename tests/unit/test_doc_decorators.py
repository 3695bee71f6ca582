"""``alt_response`` and ``doc`` document a view without wrapping it: no layer runs per request,
and the documentation is what flask-smorest's own decorators give.
"""

import flask_smorest

from service.api import Blueprint


def _view():
    return "ok"


def test_the_view_is_not_wrapped_and_its_documentation_is_flask_smorests():
    ours = Blueprint("ours", __name__)
    theirs = flask_smorest.Blueprint("theirs", __name__)

    def decorate(blueprint, view):
        view = blueprint.doc(parameters=[{"in": "header", "name": "If-Match"}])(view)
        view = blueprint.alt_response(409, description="Taken")(view)
        return blueprint.alt_response(201, description="Made")(view)

    def plain():
        return "ok"

    documented = decorate(ours, _view)
    assert documented is _view and not hasattr(documented, "__wrapped__")
    expected = decorate(theirs, plain)._apidoc
    assert expected["response"]["responses"][409][0]["description"] == "Taken"
    # Ours names problem+json for an error; otherwise the same.
    del documented._apidoc["response"]["responses"][409][0]["content_type"]
    del documented._apidoc["response"]["responses"][409][0]["schema"]
    del expected["response"]["responses"][409][0]["content_type"]
    assert documented._apidoc == expected


def test_login_required_adds_one_layer_only():
    blueprint = Blueprint("one_layer", __name__)

    def view():
        return "ok"

    guarded = blueprint.login_required("social_worker")(view)
    assert guarded.__wrapped__ is view
    assert set(guarded._apidoc["response"]["responses"]) == {401, 403}
    assert guarded._apidoc["manual_doc"] == {"security": [{"bearerAuth": []}]}
