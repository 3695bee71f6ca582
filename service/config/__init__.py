"""Configuration: defaults overridden from the environment, with typed parsing that rejects junk.

Every setting is read once, at start-up, by :func:`load_settings`. A value that does not parse
stops the service with a message naming the variable, rather than running half-configured.
``reading`` has the typed readers, ``values`` the settings that need more than a type,
``alerts`` the alert channels', ``settings`` the :class:`Settings` and how they are loaded, and
``consistency`` the checks across settings.
"""

from service.config.alerts import email_address
from service.config.reading import ConfigError, database_url
from service.config.settings import Settings, load_settings
from service.config.values import DEMO_SECRET, ENVIRONMENTS, EVIDENCE_MAX_MB, MAX_IMAGE_PIXELS

__all__ = [
    "DEMO_SECRET",
    "ENVIRONMENTS",
    "EVIDENCE_MAX_MB",
    "MAX_IMAGE_PIXELS",
    "ConfigError",
    "Settings",
    "database_url",
    "email_address",
    "load_settings",
]
