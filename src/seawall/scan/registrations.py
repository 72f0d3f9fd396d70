"""Scanner registrations: the built-in scanner, external adapters and the default.

A registration names a scanner Seawall can call. The built-in scanner is
registered at first start under `BUILTIN_NAME` with the URL `BUILTIN_URL`.
It cannot be changed or deleted, and it becomes the system default whenever
no other registration is. A project may choose its own registration, and
a project without one uses the system default.

These functions take a session and never commit. They raise the
`RegistrationError` subclasses below, which each API surface maps to its
own status codes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from seawall.db.models import ProjectScanner, ScannerRegistration

logger = structlog.get_logger(__name__)

BUILTIN_NAME = "Seawall"
BUILTIN_URL = "builtin://seawall"
BUILTIN_DESCRIPTION = (
    "The scanner built into Seawall: package inventory, OSV advisory "
    "matching and SBOM generation."
)

AUTH_NONE = ""
AUTH_BASIC = "Basic"
AUTH_BEARER = "Bearer"
# Harbor stores the API key type as the name of the header that carries it,
# and Seawall also accepts the short form "APIKey".
AUTH_API_KEY = "X-ScannerAdapter-API-Key"
AUTH_API_KEY_SHORT = "APIKey"
AUTH_TYPES = (AUTH_NONE, AUTH_BASIC, AUTH_BEARER, AUTH_API_KEY, AUTH_API_KEY_SHORT)

MAX_NAME_LENGTH = 255
MAX_URL_LENGTH = 1024


class RegistrationError(Exception):
    """Base of the scanner registration errors, with a `message` for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RegistrationInvalid(RegistrationError):
    """The settings of a registration are invalid."""


class RegistrationConflict(RegistrationError):
    """Another registration has the same name or URL."""


class RegistrationNotFound(RegistrationError):
    """No registration has the given UUID."""


class RegistrationImmutable(RegistrationError):
    """The registration is the built-in scanner, which cannot change."""


@dataclass(frozen=True, slots=True)
class RegistrationSettings:
    """The settings a client sends to create, update or ping a registration."""

    name: str
    url: str
    description: str = ""
    auth: str = AUTH_NONE
    access_credential: str = ""
    skip_cert_verify: bool = False
    use_internal_addr: bool = False
    disabled: bool = False


def is_builtin(registration: ScannerRegistration) -> bool:
    return registration.url == BUILTIN_URL


def validate_settings(settings: RegistrationSettings) -> RegistrationSettings:
    """Return `settings` with a normalized URL, or raise `RegistrationInvalid`."""
    name = settings.name.strip()
    if not name:
        raise RegistrationInvalid("missing registration name")
    if len(name) > MAX_NAME_LENGTH:
        raise RegistrationInvalid(
            f"registration name is longer than {MAX_NAME_LENGTH} characters"
        )
    url = _validate_url(settings.url)
    if settings.auth not in AUTH_TYPES:
        raise RegistrationInvalid(f"auth type {settings.auth} is not supported")
    if settings.auth and not settings.access_credential:
        raise RegistrationInvalid(
            f"access_credential is required for auth type {settings.auth}"
        )
    return replace(settings, name=name, url=url)


def _validate_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    if not url:
        raise RegistrationInvalid("missing registration url")
    if len(url) > MAX_URL_LENGTH:
        raise RegistrationInvalid(f"url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RegistrationInvalid(f"invalid url {raw!r}: {exc}") from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise RegistrationInvalid(
            f"invalid url {raw!r}: use an http:// or https:// URL with a host"
        )
    if parts.username or parts.password:
        # The message is returned and logged, so it must not repeat the password.
        raise RegistrationInvalid(
            f"invalid url for host {parts.hostname!r}: give the credentials in "
            "access_credential, not in the url"
        )
    if port == 0:
        raise RegistrationInvalid(f"invalid url {raw!r}: give a port from 1 to 65535")
    return url


def list_registrations(
    session: Session,
    statement: Select[Any],
    offset: int,
    limit: int,
) -> tuple[list[ScannerRegistration], int]:
    """Return one page of `statement` and the total number of its rows."""
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    rows: list[ScannerRegistration] = list(
        session.scalars(statement.offset(offset).limit(limit)).all()
    )
    return rows, int(total or 0)


def get_registration(session: Session, registration_uuid: str) -> ScannerRegistration:
    registration = session.get(ScannerRegistration, registration_uuid)
    if registration is None:
        raise RegistrationNotFound(f"scanner {registration_uuid} not found")
    return registration


def default_registration(session: Session) -> ScannerRegistration | None:
    return session.scalars(
        select(ScannerRegistration).where(ScannerRegistration.is_default.is_(True))
    ).first()


def _check_unique(
    session: Session, settings: RegistrationSettings, exclude_uuid: str | None = None
) -> None:
    statement = select(ScannerRegistration.uuid).where(
        or_(
            ScannerRegistration.name == settings.name,
            ScannerRegistration.url == settings.url,
        )
    )
    if exclude_uuid is not None:
        statement = statement.where(ScannerRegistration.uuid != exclude_uuid)
    if session.scalars(statement).first() is not None:
        raise RegistrationConflict("registration name or url already exists")


def _check_reserved(name: str) -> None:
    if name == BUILTIN_NAME:
        raise RegistrationInvalid(
            f'name "{name}" is reserved for the built-in scanner. Choose another name'
        )


def create_registration(
    session: Session, settings: RegistrationSettings
) -> ScannerRegistration:
    """Store a new external registration, made the default when none is."""
    settings = validate_settings(settings)
    _check_reserved(settings.name)
    _check_unique(session, settings)
    registration = ScannerRegistration(
        uuid=str(uuid.uuid4()),
        is_default=default_registration(session) is None and not settings.disabled,
        immutable=False,
    )
    _apply(registration, settings)
    session.add(registration)
    session.flush()
    logger.info("scanner registered", uuid=registration.uuid, url=registration.url)
    return registration


def _apply(registration: ScannerRegistration, settings: RegistrationSettings) -> None:
    registration.name = settings.name
    registration.description = settings.description
    registration.url = settings.url
    registration.auth = settings.auth
    registration.access_credential = settings.access_credential
    registration.skip_cert_verify = settings.skip_cert_verify
    registration.use_internal_addr = settings.use_internal_addr
    registration.disabled = settings.disabled


def update_registration(
    session: Session, registration_uuid: str, settings: RegistrationSettings
) -> ScannerRegistration:
    """Replace the settings of an external registration.

    An empty credential keeps the stored one when the auth type still needs
    one, because responses never show the stored credential.
    """
    registration = get_registration(session, registration_uuid)
    if registration.immutable:
        raise RegistrationImmutable(
            f"registration {registration.name} is not allowed to update as it is "
            "immutable"
        )
    if settings.auth and not settings.access_credential:
        settings = replace(settings, access_credential=registration.access_credential)
    settings = validate_settings(settings)
    _check_reserved(settings.name)
    if registration.is_default and settings.disabled:
        raise RegistrationInvalid(
            f"default registration {registration.uuid} can not be marked to deactivated"
        )
    _check_unique(session, settings, exclude_uuid=registration.uuid)
    _apply(registration, settings)
    session.flush()
    return registration


def delete_registration(
    session: Session, registration_uuid: str
) -> ScannerRegistration:
    """Delete an external registration and return it as it was.

    Projects that chose it fall back to the system default. When it was the
    default, the built-in scanner becomes the default again.
    """
    registration = get_registration(session, registration_uuid)
    if registration.immutable:
        raise RegistrationImmutable(
            f"registration {registration.name} is not allowed to delete as it is "
            "immutable"
        )
    session.delete(registration)
    session.flush()
    if registration.is_default:
        _restore_builtin_default(session)
    logger.info("scanner deleted", uuid=registration_uuid, url=registration.url)
    return registration


def _restore_builtin_default(session: Session) -> None:
    builtin = session.scalars(
        select(ScannerRegistration).where(ScannerRegistration.url == BUILTIN_URL)
    ).first()
    if builtin is not None and default_registration(session) is None:
        builtin.is_default = True
        session.flush()


def set_default(session: Session, registration_uuid: str) -> ScannerRegistration:
    """Make one registration the system default and clear the flag on the others."""
    registration = get_registration(session, registration_uuid)
    if registration.disabled:
        raise RegistrationInvalid(
            f"scanner {registration.name} is disabled. Enable it before making it "
            "the default"
        )
    session.execute(
        update(ScannerRegistration)
        .where(ScannerRegistration.uuid != registration.uuid)
        .values(is_default=False)
    )
    registration.is_default = True
    session.flush()
    return registration


def scanner_for_project(
    session: Session, project_id: int
) -> ScannerRegistration | None:
    """Return the project's own registration, else the system default, else None.

    A project's choice of a registration that is now disabled falls back to
    the default, as if the project had chosen none.
    """
    chosen = session.scalars(
        select(ScannerRegistration)
        .join(
            ProjectScanner,
            ProjectScanner.registration_uuid == ScannerRegistration.uuid,
        )
        .where(ProjectScanner.project_id == project_id)
    ).first()
    if chosen is not None and not chosen.disabled:
        return chosen
    return default_registration(session)


def set_project_scanner(
    session: Session, project_id: int, registration_uuid: str
) -> ScannerRegistration:
    """Choose the registration a project's scans use."""
    registration = get_registration(session, registration_uuid)
    if registration.disabled:
        raise RegistrationInvalid(
            f"scanner {registration.name} is disabled and cannot be chosen"
        )
    choice = session.get(ProjectScanner, project_id)
    if choice is None:
        session.add(
            ProjectScanner(project_id=project_id, registration_uuid=registration.uuid)
        )
    else:
        choice.registration_uuid = registration.uuid
    session.flush()
    return registration


def ensure_builtin_scanner(session: Session) -> ScannerRegistration:
    """Register the built-in scanner if it is missing, and return it.

    It is made the default when no registration is the default yet.
    """
    builtin = session.scalars(
        select(ScannerRegistration).where(ScannerRegistration.url == BUILTIN_URL)
    ).first()
    if builtin is None:
        builtin = ScannerRegistration(
            uuid=str(uuid.uuid4()),
            name=BUILTIN_NAME,
            description=BUILTIN_DESCRIPTION,
            url=BUILTIN_URL,
            immutable=True,
            is_default=False,
        )
        session.add(builtin)
        session.flush()
        logger.info("built-in scanner registered", uuid=builtin.uuid)
    if default_registration(session) is None:
        builtin.is_default = True
        session.flush()
    return builtin
