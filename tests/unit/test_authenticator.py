"""HTTP Basic parsing, the failed-login limiter and password checks on a real database."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seawall.auth import (
    Authenticator,
    BasicCredentials,
    InvalidCredentials,
    Principal,
    TooManyFailures,
    parse_basic,
)
from seawall.auth.authenticator import FailureLimiter
from seawall.db import Database
from seawall.db.migrate import upgrade_schema
from seawall.registry.bootstrap import bootstrap
from seawall.registry.cache import MetadataEpoch
from tests.support import databases

ADMIN_PASSWORD = "Unit-Test-Admin-1"
CLIENT = "192.0.2.10"
OTHER_CLIENT = "192.0.2.20"
ROBOT_PREFIX = "robot$"
ADMIN = BasicCredentials("admin", ADMIN_PASSWORD)
WRONG_PASSWORD = BasicCredentials("admin", "not-the-password")
UNKNOWN_USER = BasicCredentials("nobody", ADMIN_PASSWORD)


def basic(userpass: bytes, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(userpass).decode()}"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database that contains the bootstrap admin user."""
    with databases.test_database_url(tmp_path_factory.mktemp("auth-db")) as url:
        upgrade_schema(url)
        db = Database(url)
        with db.session() as session:
            bootstrap(session, ADMIN_PASSWORD)
        yield db
        db.dispose()


@pytest.fixture
def epoch(tmp_path: Path) -> MetadataEpoch:
    """The credential epoch that a user or robot change bumps."""
    return MetadataEpoch(tmp_path, "credential-epoch")


def make_authenticator(
    database: Database,
    epoch: MetadataEpoch,
    cache_seconds: float = 60,
    failure_limit: int = 5,
) -> Authenticator:
    return Authenticator(
        database, cache_seconds, failure_limit, epoch, lambda: ROBOT_PREFIX
    )


# parse_basic


@pytest.mark.parametrize("header", [None, ""])
def test_no_header_is_anonymous(header: str | None) -> None:
    assert parse_basic(header) is None


@pytest.mark.parametrize("header", ["Bearer abc.def.ghi", "Digest username=x"])
def test_other_scheme_ignored(header: str) -> None:
    assert parse_basic(header) is None


def test_basic_parsed() -> None:
    assert parse_basic(basic(b"alice:secret")) == BasicCredentials("alice", "secret")


@pytest.mark.parametrize("scheme", ["basic", "BASIC", "bAsIc"])
def test_scheme_case_insensitive(scheme: str) -> None:
    parsed = parse_basic(basic(b"alice:secret", scheme))
    assert parsed == BasicCredentials("alice", "secret")


def test_password_may_contain_colon() -> None:
    parsed = parse_basic(basic(b"alice:se:cr:et"))
    assert parsed == BasicCredentials("alice", "se:cr:et")


def test_empty_password_kept() -> None:
    assert parse_basic(basic(b"alice:")) == BasicCredentials("alice", "")


def test_utf8_credentials_decoded() -> None:
    parsed = parse_basic(basic("jürgen:päss".encode()))
    assert parsed == BasicCredentials("jürgen", "päss")


def test_empty_credentials_are_anonymous() -> None:
    assert parse_basic(basic(b":")) is None


def test_empty_username_invalid() -> None:
    with pytest.raises(InvalidCredentials, match="empty username"):
        parse_basic(basic(b":secret"))


def test_basic_without_token_invalid() -> None:
    with pytest.raises(InvalidCredentials, match="malformed"):
        parse_basic("Basic")


def test_missing_colon_invalid() -> None:
    with pytest.raises(InvalidCredentials, match="malformed"):
        parse_basic(basic(b"alice"))


@pytest.mark.parametrize(
    "value", ["not base64!", "YWxpY2U6c2VjcmV0!", "YW=xp", "YWxpY2U6c2VjcmV"]
)
def test_bad_base64_invalid(value: str) -> None:
    with pytest.raises(InvalidCredentials, match="malformed"):
        parse_basic(f"Basic {value}")


def test_non_utf8_invalid() -> None:
    with pytest.raises(InvalidCredentials, match="malformed"):
        parse_basic(basic(b"\xff\xfe:secret"))


# FailureLimiter


def test_limiter_allows_below_limit() -> None:
    limiter = FailureLimiter(limit=3)
    limiter.record(CLIENT)
    limiter.record(CLIENT)
    limiter.check(CLIENT)


def test_limiter_blocks_at_limit() -> None:
    limiter = FailureLimiter(limit=3)
    for _ in range(3):
        limiter.record(CLIENT)
    with pytest.raises(TooManyFailures):
        limiter.check(CLIENT)


def test_limiter_counts_per_client() -> None:
    limiter = FailureLimiter(limit=2)
    limiter.record(CLIENT)
    limiter.record(CLIENT)
    limiter.check(OTHER_CLIENT)


def test_limiter_forgets_after_window() -> None:
    limiter = FailureLimiter(limit=1, window=0.05)
    limiter.record(CLIENT)
    time.sleep(0.1)
    limiter.check(CLIENT)


def test_limiter_check_records_nothing() -> None:
    limiter = FailureLimiter(limit=1)
    for _ in range(5):
        limiter.check(CLIENT)
    limiter.check(CLIENT)


# Authenticator


def test_admin_verified(database: Database, epoch: MetadataEpoch) -> None:
    principal = make_authenticator(database, epoch).verify(ADMIN, CLIENT)
    assert principal.username == "admin"


def test_admin_is_sysadmin(database: Database, epoch: MetadataEpoch) -> None:
    principal = make_authenticator(database, epoch).verify(ADMIN, CLIENT)
    assert principal.sysadmin


def test_verified_principal_not_anonymous(
    database: Database, epoch: MetadataEpoch
) -> None:
    principal = make_authenticator(database, epoch).verify(ADMIN, CLIENT)
    assert not principal.anonymous


def test_wrong_password_rejected(database: Database, epoch: MetadataEpoch) -> None:
    with pytest.raises(InvalidCredentials):
        make_authenticator(database, epoch).verify(WRONG_PASSWORD, CLIENT)


def test_unknown_user_rejected(database: Database, epoch: MetadataEpoch) -> None:
    with pytest.raises(InvalidCredentials):
        make_authenticator(database, epoch).verify(UNKNOWN_USER, CLIENT)


def test_unknown_robot_rejected(database: Database, epoch: MetadataEpoch) -> None:
    robot = BasicCredentials(f"{ROBOT_PREFIX}library+missing", "secret")
    with pytest.raises(InvalidCredentials):
        make_authenticator(database, epoch).verify(robot, CLIENT)


def test_username_case_sensitive(database: Database, epoch: MetadataEpoch) -> None:
    with pytest.raises(InvalidCredentials):
        make_authenticator(database, epoch).verify(
            BasicCredentials("ADMIN", ADMIN_PASSWORD), CLIENT
        )


def test_rejection_message_hides_which_part(
    database: Database, epoch: MetadataEpoch
) -> None:
    authenticator = make_authenticator(database, epoch)
    messages = []
    for credentials in (WRONG_PASSWORD, UNKNOWN_USER):
        with pytest.raises(InvalidCredentials) as caught:
            authenticator.verify(credentials, CLIENT)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_nothing_cached_before_verify(database: Database, epoch: MetadataEpoch) -> None:
    assert make_authenticator(database, epoch).cached(ADMIN) is None


def test_verified_credentials_cached(database: Database, epoch: MetadataEpoch) -> None:
    authenticator = make_authenticator(database, epoch)
    principal = authenticator.verify(ADMIN, CLIENT)
    assert authenticator.cached(ADMIN) == principal


def test_cache_misses_other_password(database: Database, epoch: MetadataEpoch) -> None:
    authenticator = make_authenticator(database, epoch)
    authenticator.verify(ADMIN, CLIENT)
    assert authenticator.cached(WRONG_PASSWORD) is None


def test_failed_login_not_cached(database: Database, epoch: MetadataEpoch) -> None:
    authenticator = make_authenticator(database, epoch)
    with pytest.raises(InvalidCredentials):
        authenticator.verify(WRONG_PASSWORD, CLIENT)
    assert authenticator.cached(WRONG_PASSWORD) is None


def test_zero_cache_seconds_caches_nothing(
    database: Database, epoch: MetadataEpoch
) -> None:
    authenticator = make_authenticator(database, epoch, cache_seconds=0)
    authenticator.verify(ADMIN, CLIENT)
    assert authenticator.cached(ADMIN) is None


def test_cache_entry_expires(database: Database, epoch: MetadataEpoch) -> None:
    authenticator = make_authenticator(database, epoch, cache_seconds=0.05)
    authenticator.verify(ADMIN, CLIENT)
    time.sleep(0.1)
    assert authenticator.cached(ADMIN) is None


def test_epoch_bump_clears_cache(database: Database, epoch: MetadataEpoch) -> None:
    authenticator = make_authenticator(database, epoch)
    authenticator.verify(ADMIN, CLIENT)
    epoch.bump()
    assert authenticator.cached(ADMIN) is None


def test_bump_by_other_process_clears_cache(
    database: Database, epoch: MetadataEpoch, tmp_path: Path
) -> None:
    authenticator = make_authenticator(database, epoch)
    authenticator.verify(ADMIN, CLIENT)
    MetadataEpoch(tmp_path, "credential-epoch").bump()
    assert authenticator.cached(ADMIN) is None


def test_cache_not_shared_between_instances(
    database: Database, epoch: MetadataEpoch
) -> None:
    make_authenticator(database, epoch).verify(ADMIN, CLIENT)
    assert make_authenticator(database, epoch).cached(ADMIN) is None


def test_failures_block_correct_password(
    database: Database, epoch: MetadataEpoch
) -> None:
    authenticator = make_authenticator(database, epoch, failure_limit=2)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            authenticator.verify(WRONG_PASSWORD, CLIENT)
    with pytest.raises(TooManyFailures):
        authenticator.verify(ADMIN, CLIENT)


def test_unknown_user_counts_as_failure(
    database: Database, epoch: MetadataEpoch
) -> None:
    authenticator = make_authenticator(database, epoch, failure_limit=1)
    with pytest.raises(InvalidCredentials):
        authenticator.verify(UNKNOWN_USER, CLIENT)
    with pytest.raises(TooManyFailures):
        authenticator.verify(ADMIN, CLIENT)


def test_failures_block_username_elsewhere(
    database: Database, epoch: MetadataEpoch
) -> None:
    authenticator = make_authenticator(database, epoch, failure_limit=1)
    with pytest.raises(InvalidCredentials):
        authenticator.verify(WRONG_PASSWORD, CLIENT)
    with pytest.raises(TooManyFailures):
        authenticator.verify(ADMIN, OTHER_CLIENT)


def test_other_client_and_user_not_blocked(
    database: Database, epoch: MetadataEpoch
) -> None:
    authenticator = make_authenticator(database, epoch, failure_limit=1)
    with pytest.raises(InvalidCredentials):
        authenticator.verify(UNKNOWN_USER, CLIENT)
    principal = authenticator.verify(ADMIN, OTHER_CLIENT)
    assert principal.username == "admin"


def test_success_not_counted_as_failure(
    database: Database, epoch: MetadataEpoch
) -> None:
    authenticator = make_authenticator(database, epoch, failure_limit=1)
    for _ in range(3):
        authenticator.verify(ADMIN, CLIENT)
    assert isinstance(authenticator.verify(ADMIN, CLIENT), Principal)
