"""HTTP Basic authentication with a short-lived cache of verified credentials.

Argon2 verification takes tens of milliseconds on purpose. A client that
sends Basic credentials on every request would pay that each time, so a
successful check is remembered for `cache_seconds` under an HMAC of the
username and password with a per-process random key, so the cache never
contains a password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.auth.passwords import hash_password, verify_password
from seawall.auth.principal import Principal, user_principal
from seawall.auth.robots import find_robot, robot_principal
from seawall.db import Database
from seawall.db.models import User
from seawall.registry.cache import Epoch, MetadataEpoch

logger = structlog.get_logger(__name__)

_CACHE_LIMIT = 4096


class InvalidCredentials(Exception):
    """Credentials were sent but do not match an account."""


class TooManyFailures(Exception):
    """A client address or a username failed to log in too often in the last minute."""


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: str


def parse_basic(header: str | None) -> BasicCredentials | None:
    """Return the credentials of a `Basic` Authorization header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidCredentials("malformed Basic credentials") from None
    if "\x00" in decoded:
        raise InvalidCredentials("malformed Basic credentials")
    username, sep, password = decoded.partition(":")
    if not sep:
        raise InvalidCredentials("malformed Basic credentials")
    if not username and not password:
        # Some clients (skopeo --no-creds) send empty Basic credentials to
        # mean an anonymous request.
        return None
    if not username:
        raise InvalidCredentials("Basic credentials have an empty username")
    return BasicCredentials(username, password)


class FailureLimiter:
    """Counts failed logins per key (client address or username) over a sliding minute."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def check(self, key: str) -> None:
        failures = self._recent(key)
        if len(failures) >= self.limit:
            raise TooManyFailures(key)

    def record(self, key: str) -> None:
        self._recent(key).append(time.monotonic())
        if len(self._failures) > _CACHE_LIMIT:
            self._failures.pop(next(iter(self._failures)))

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        cutoff = time.monotonic() - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        return failures


class Authenticator:
    """Check Basic credentials of local users and robot accounts.

    Remembered credentials are tied to the credential epoch: any change to
    a user or robot (password, secret, disable, delete, permissions) bumps
    it, and every process then drops what it remembered.
    """

    def __init__(
        self,
        db: Database,
        cache_seconds: float,
        failure_limit: int,
        epoch: MetadataEpoch,
        robot_prefix: Callable[[], str],
    ) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self.address_limiter = FailureLimiter(failure_limit)
        self.user_limiter = FailureLimiter(failure_limit)
        self.epoch = epoch
        self.robot_prefix = robot_prefix
        self._key = os.urandom(32)
        self._cache: OrderedDict[bytes, tuple[float, Epoch, Principal]] = OrderedDict()
        self._dummy_hash = hash_password(os.urandom(16).hex())

    def cache_key(self, credentials: BasicCredentials) -> bytes:
        """Return the HMAC that identifies these credentials in the in-memory caches."""
        message = f"{credentials.username}\0{credentials.password}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def cached(self, credentials: BasicCredentials) -> Principal | None:
        key = self.cache_key(credentials)
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, epoch, principal = entry
        if expires < time.monotonic() or epoch != self.epoch.current():
            self._cache.pop(key, None)
            return None
        return principal

    def verify(self, credentials: BasicCredentials, client: str) -> Principal:
        """Return the principal for valid credentials; runs the slow hash check."""
        try:
            self.address_limiter.check(client)
            self.user_limiter.check(credentials.username)
        except TooManyFailures:
            logger.warning(
                "login rejected: too many failures",
                username=credentials.username,
                client=client,
            )
            raise
        epoch = self.epoch.current()
        prefix = self.robot_prefix()
        not_after = -1
        with self.db.session(read_only=True) as session:
            if prefix and credentials.username.startswith(prefix):
                principal, not_after = self._verify_robot(session, credentials, prefix)
            else:
                principal = self._verify_user(session, credentials)
        if principal is None:
            self.address_limiter.record(client)
            self.user_limiter.record(credentials.username)
            logger.info("login failed", username=credentials.username, client=client)
            raise InvalidCredentials("invalid username or password")
        self._remember(credentials, principal, epoch, not_after)
        return principal

    def _verify_user(
        self, session: Session, credentials: BasicCredentials
    ) -> Principal | None:
        user = session.scalars(
            select(User).where(User.username == credentials.username)
        ).one_or_none()
        if user is None:
            # Spend the same time as a real check, so response times do not
            # reveal which usernames exist.
            verify_password(self._dummy_hash, credentials.password)
            return None
        if not verify_password(user.password_hash, credentials.password):
            return None
        return user_principal(user.id, user.username, user.sysadmin)

    def _verify_robot(
        self, session: Session, credentials: BasicCredentials, prefix: str
    ) -> tuple[Principal | None, int]:
        """Return the robot's principal, or None, and its expiry (Unix seconds, -1 never)."""
        robot = find_robot(session, credentials.username[len(prefix) :])
        if robot is None:
            verify_password(self._dummy_hash, credentials.password)
            return None, -1
        if not verify_password(robot.secret_hash, credentials.password):
            return None, -1
        if robot.disabled:
            logger.info("robot refused", robot=credentials.username, reason="disabled")
            return None, -1
        if robot.expires_at != -1 and robot.expires_at <= time.time():
            logger.info("robot refused", robot=credentials.username, reason="expired")
            return None, -1
        return robot_principal(robot, credentials.username), robot.expires_at

    def _remember(
        self,
        credentials: BasicCredentials,
        principal: Principal,
        epoch: Epoch,
        not_after: int = -1,
    ) -> None:
        lifetime = self.cache_seconds
        if not_after != -1:
            # A robot's login is remembered no longer than the robot is valid.
            lifetime = min(lifetime, not_after - time.time())
        if lifetime <= 0:
            return
        expires = time.monotonic() + lifetime
        self._cache[self.cache_key(credentials)] = (expires, epoch, principal)
        while len(self._cache) > _CACHE_LIMIT:
            self._cache.popitem(last=False)
