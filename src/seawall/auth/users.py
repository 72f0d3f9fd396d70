"""Local user accounts: input rules, creation, profile, password, flag and removal.

Input rules follow Harbor 2.13 for database accounts: a password of 8 to
128 characters with an upper-case letter, a lower-case letter and a digit,
and no `,"~#%$` in a username. Seawall also rejects control characters and
`:` in a username, because HTTP Basic credentials cannot carry such a name,
and a username that starts with the robot account prefix, because the
authenticator treats such a name as a robot.

The functions that write take a session and never commit. Password hashing
lives in separate functions (`hash_new_password`, `check_password_change`),
so callers can run argon2 before they open a write transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.auth.passwords import hash_password, verify_password
from seawall.db.models import ProjectMember, User
from seawall.policy.rbac import ProjectRole

# Harbor gives the first account, `admin`, id 1. That account cannot be
# deleted, and user lists leave it out. Seawall's first start creates
# `admin` as its first user, so the same id applies.
BUILTIN_ADMIN_ID = 1

# Harbor's exact message, which clients may show as is.
WEAK_CREDENTIAL_MESSAGE = (
    "the password or secret must be 8-128, inclusively, characters long with at "
    "least 1 uppercase letter, 1 lowercase letter and 1 number"
)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MAX_NAME_LENGTH = 255
MAX_COMMENT_LENGTH = 30
USERNAME_ILLEGAL_CHARACTERS = ',"~#%$'
REALNAME_ILLEGAL_CHARACTERS = ",~#$%"

# A local part of dot-separated runs without spaces, quotes or separators,
# then a domain of dot-separated labels ending in a top-level name of two
# or more letters. The same rule as Harbor's email check, without its
# quoted local parts and IP literal domains.
_EMAIL_LOCAL = re.compile(r'[^<>()\[\]\\.,;:\s@"]+(\.[^<>()\[\]\\.,;:\s@"]+)*')
_EMAIL_DOMAIN = re.compile(r"([A-Za-z0-9-]+\.)+[A-Za-z]{2,}")


class UserError(Exception):
    """A user operation that cannot be done, with a message for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidUserInput(UserError):
    """A username, password, email, real name or comment breaks the rules."""


class UserConflict(UserError):
    """The username or email is already used by another account."""


class UserNotFound(UserError):
    """No user has the requested id."""


class WrongPassword(UserError):
    """The current password given with a password change does not match."""


class SamePassword(UserError):
    """The new password equals the current one."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the API returns it, detached from the session."""

    user_id: int
    username: str
    email: str
    realname: str
    comment: str
    sysadmin: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Profile:
    """The fields a user may change about themselves: email, real name, comment."""

    email: str
    realname: str
    comment: str


def _record(user: User) -> UserRecord:
    return UserRecord(
        user_id=user.id,
        username=user.username,
        email=user.email or "",
        realname=user.realname,
        comment=user.comment,
        sysadmin=user.sysadmin,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def _has_control_character(value: str) -> bool:
    return any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in value)


def check_username(username: str, robot_prefix: str) -> None:
    """Raise `InvalidUserInput` unless `username` may name a new local account."""
    if not 1 <= len(username) <= MAX_NAME_LENGTH:
        raise InvalidUserInput(
            f"username must be 1 to {MAX_NAME_LENGTH} characters long"
        )
    if (
        any(char in USERNAME_ILLEGAL_CHARACTERS for char in username)
        or ":" in username
        or _has_control_character(username)
    ):
        raise InvalidUserInput(
            f"username contains illegal characters: remove any of "
            f"{USERNAME_ILLEGAL_CHARACTERS}, ':' and control characters"
        )
    if robot_prefix and username.startswith(robot_prefix):
        raise InvalidUserInput(
            f"username must not start with {robot_prefix!r}, the robot account prefix"
        )


def check_password_policy(password: str) -> None:
    """Raise `InvalidUserInput` with Harbor's message unless `password` is strong enough."""
    if (
        MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH
        and any("a" <= char <= "z" for char in password)
        and any("A" <= char <= "Z" for char in password)
        and any("0" <= char <= "9" for char in password)
        and password.isprintable()
    ):
        return
    raise InvalidUserInput(WEAK_CREDENTIAL_MESSAGE)


def check_email(email: str) -> None:
    if not email:
        raise InvalidUserInput("email is missing, and every local user needs one")
    local, at, domain = email.rpartition("@")
    if (
        len(email) > MAX_NAME_LENGTH
        or not at
        or not _EMAIL_LOCAL.fullmatch(local)
        or not _EMAIL_DOMAIN.fullmatch(domain)
    ):
        raise InvalidUserInput(f"email {email!r} is not a valid email address")


def check_profile(profile: Profile) -> None:
    """Raise `InvalidUserInput` unless email, real name and comment follow Harbor's rules."""
    check_email(profile.email)
    if not 1 <= len(profile.realname) <= MAX_NAME_LENGTH:
        raise InvalidUserInput(
            f"realname must be 1 to {MAX_NAME_LENGTH} characters long"
        )
    if any(char in REALNAME_ILLEGAL_CHARACTERS for char in profile.realname) or (
        _has_control_character(profile.realname)
    ):
        raise InvalidUserInput(
            f"realname contains illegal characters: remove any of "
            f"{REALNAME_ILLEGAL_CHARACTERS} and control characters"
        )
    if len(profile.comment) > MAX_COMMENT_LENGTH or "\x00" in profile.comment:
        raise InvalidUserInput(
            f"comment must be at most {MAX_COMMENT_LENGTH} characters long"
        )


def hash_new_password(password: str) -> str:
    """Check `password` against the policy and return its argon2 hash."""
    check_password_policy(password)
    return hash_password(password)


def check_password_change(
    current_hash: str, new_password: str, old_password: str | None
) -> str:
    """Check a password change and return the hash of the new password.

    `old_password` None means the caller need not prove the current
    password (an administrator changing another user's). Raises
    `WrongPassword`, `InvalidUserInput` or `SamePassword`, in Harbor's order.
    """
    if old_password is not None and not verify_password(current_hash, old_password):
        raise WrongPassword("Current password is incorrect")
    check_password_policy(new_password)
    if verify_password(current_hash, new_password):
        raise SamePassword("New password is identical to old password")
    return hash_password(new_password)


def _conflict(username: str, email: str) -> UserConflict:
    return UserConflict(f"user {username} or email {email} already exists")


def create_user(
    session: Session, username: str, password_hash: str, profile: Profile
) -> UserRecord:
    """Insert a local user who is not a system administrator.

    Raises `UserConflict` when the username or the email is taken, also
    when a concurrent request took it first.
    """
    duplicates = session.scalar(
        select(func.count())
        .select_from(User)
        .where((User.username == username) | (User.email == profile.email))
    )
    if duplicates:
        raise _conflict(username, profile.email)
    user = User(
        username=username,
        password_hash=password_hash,
        email=profile.email,
        realname=profile.realname,
        comment=profile.comment,
        sysadmin=False,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise _conflict(username, profile.email) from exc
    return _record(user)


def _load(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(f"user {user_id} not found")
    return user


def get_user(session: Session, user_id: int) -> UserRecord:
    return _record(_load(session, user_id))


def password_hash_of(session: Session, user_id: int) -> str:
    return _load(session, user_id).password_hash


def list_users(
    session: Session,
    refine: Callable[[Select[Any]], Select[Any]],
    order: Callable[[Select[Any]], Select[Any]],
    offset: int,
    limit: int,
) -> tuple[int, list[UserRecord]]:
    """Return the number of matching users and one page of them.

    `refine` adds the filters and `order` the sort order to a select of
    `User`. As in Harbor, the built-in admin is never listed.
    """
    base = refine(select(User).where(User.id != BUILTIN_ADMIN_ID))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = session.scalars(order(base).offset(offset).limit(limit))
    return total, [_record(user) for user in page]


def update_profile(session: Session, user_id: int, profile: Profile) -> UserRecord:
    """Replace the email, real name and comment of a user.

    Raises `UserNotFound`, or `UserConflict` when another user has the email.
    """
    user = _load(session, user_id)
    duplicates = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.email == profile.email, User.id != user_id)
    )
    if duplicates:
        raise UserConflict(f"email {profile.email} already exists")
    user.email = profile.email
    user.realname = profile.realname
    user.comment = profile.comment
    try:
        session.flush()
    except IntegrityError as exc:
        raise UserConflict(f"email {profile.email} already exists") from exc
    return _record(user)


def store_password(
    session: Session, user_id: int, password_hash: str, expected_hash: str
) -> UserRecord:
    """Replace a user's password hash if it is still `expected_hash`.

    The new hash was computed outside this transaction, so a password that
    changed in between raises `UserConflict` instead of being overwritten.
    """
    user = _load(session, user_id)
    if user.password_hash != expected_hash:
        raise UserConflict(
            f"the password of user {user_id} changed during this request, so retry it"
        )
    user.password_hash = password_hash
    user.credential_version += 1
    return _record(user)


def set_sysadmin(session: Session, user_id: int, sysadmin: bool) -> UserRecord:
    user = _load(session, user_id)
    if user.sysadmin != sysadmin:
        user.sysadmin = sysadmin
        user.credential_version += 1
    return _record(user)


def delete_user(session: Session, user_id: int) -> UserRecord:
    """Delete a user and the user's project memberships.

    Projects the user owned keep existing with no owner. Raises `UserNotFound`.
    """
    user = _load(session, user_id)
    removed = _record(user)
    session.execute(
        delete(ProjectMember).where(
            ProjectMember.entity_type == "u", ProjectMember.entity_id == user_id
        )
    )
    session.delete(user)
    return removed


def is_project_admin_anywhere(session: Session, user_id: int) -> bool:
    """Return whether the user is a project administrator of at least one project."""
    found = session.scalar(
        select(ProjectMember.id)
        .where(
            ProjectMember.entity_type == "u",
            ProjectMember.entity_id == user_id,
            ProjectMember.role_id == ProjectRole.PROJECT_ADMIN.value,
        )
        .limit(1)
    )
    return found is not None
