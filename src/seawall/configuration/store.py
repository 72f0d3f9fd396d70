"""System configuration: Harbor's configuration keys, stored in the database.

Each key has a type, a default and a validator. Values are stored as JSON
in the `configurations` table and cached per process until the metadata
epoch changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.db import Database
from seawall.db.models import Configuration
from seawall.registry.cache import Epoch, MetadataEpoch


class InvalidConfiguration(ValueError):
    """A configuration update with an unknown key or a bad value."""


def _one_of(*choices: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value not in choices:
            raise InvalidConfiguration(f"must be one of {', '.join(choices)}")

    return check


def _positive_int(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidConfiguration("must be a positive integer")


def _robot_prefix(value: Any) -> None:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 32
        or "+" in value
        or not value.isprintable()
    ):
        raise InvalidConfiguration("must be 1 to 32 printable characters without '+'")


def _boolean(value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidConfiguration("must be true or false")


@dataclass(frozen=True)
class ConfigurationKey:
    name: str
    default: Any
    validate: Callable[[Any], None]
    secret: bool = False


KEYS: dict[str, ConfigurationKey] = {
    key.name: key
    for key in [
        # Only local database accounts exist so far; other modes come with
        # their authenticators.
        ConfigurationKey("auth_mode", "db_auth", _one_of("db_auth")),
        ConfigurationKey(
            "project_creation_restriction", "everyone", _one_of("everyone", "adminonly")
        ),
        ConfigurationKey("self_registration", False, _boolean),
        ConfigurationKey("robot_name_prefix", "robot$", _robot_prefix),
        ConfigurationKey("robot_token_duration", 30, _positive_int),
        ConfigurationKey("token_expiration", 30, _positive_int),
    ]
}


class ConfigurationStore:
    """Reads and writes system configuration, with a per-process cache."""

    def __init__(self, db: Database, epoch: MetadataEpoch) -> None:
        self.db = db
        self.epoch = epoch
        self._cached: tuple[Epoch, dict[str, Any]] | None = None

    def values(self) -> dict[str, Any]:
        """Return every key with its current value."""
        epoch = self.epoch.current()
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        with self.db.session(read_only=True) as session:
            values = load(session)
        self._cached = (epoch, values)
        return values

    def get(self, name: str) -> Any:
        return self.values()[name]


def load(session: Session) -> dict[str, Any]:
    values = {name: key.default for name, key in KEYS.items()}
    for row in session.scalars(select(Configuration)):
        if row.key in KEYS:
            values[row.key] = json.loads(row.value)
    return values


def update(session: Session, changes: dict[str, Any]) -> None:
    """Validate and store `changes`, raising `InvalidConfiguration` on the first bad key."""
    for name, value in changes.items():
        key = KEYS.get(name)
        if key is None:
            raise InvalidConfiguration(f"unknown configuration key {name!r}")
        try:
            key.validate(value)
        except InvalidConfiguration as exc:
            raise InvalidConfiguration(f"invalid value for {name}: {exc}") from exc
    for name, value in changes.items():
        row = session.get(Configuration, name)
        if row is None:
            session.add(Configuration(key=name, value=json.dumps(value)))
        else:
            row.value = json.dumps(value)
