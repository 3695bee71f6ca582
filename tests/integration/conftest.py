"""The CLI and integration tests are held to the same logging rules as the API tests."""

from tests.api.conftest import _record_this_test, api_log_recorder

__all__ = ["_record_this_test", "api_log_recorder"]
