"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``."""

import sys

from service import create_app
from service.config import ConfigError

# gunicorn's code for "the app failed to load": its master then stops, where any other exit
# code has it start the worker again, and again, for ever.
APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigError as error:  # one line naming the setting, not a traceback
    print(f"Configuration error: {error}", file=sys.stderr)
    raise SystemExit(APP_LOAD_ERROR) from None
