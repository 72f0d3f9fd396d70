"""System configuration keys and their storage."""

from seawall.configuration.store import (
    KEYS,
    ConfigurationStore,
    InvalidConfiguration,
    load,
    update,
)

__all__ = ["KEYS", "ConfigurationStore", "InvalidConfiguration", "load", "update"]
