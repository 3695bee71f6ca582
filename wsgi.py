"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``."""

from service import create_app
from service.config import ConfigError

try:
    app = create_app()
except ConfigError as error:  # one line naming the setting, not a traceback
    raise SystemExit(f"Configuration error: {error}") from None
