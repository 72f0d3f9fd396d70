"""Alembic migrations against the models, on the backend named by SEAWALL_TEST_DATABASE."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from seawall.auth import hash_password
from seawall.db import Database
from seawall.db.migrate import alembic_config, upgrade_schema
from seawall.db.models import Base, User
from seawall.db.session import make_engine
from tests.support import databases


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database of the selected backend that no other test has touched."""
    with databases.test_database_url(tmp_path) as url:
        yield url


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()


def schema_differences(engine: Engine) -> list[Any]:
    """Return what Alembic's autogenerate would change to make the schema match the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def schema_snapshot(engine: Engine) -> dict[str, dict[str, object]]:
    """Return columns, keys, indexes and constraints of every table, for comparison."""
    inspector = inspect(engine)
    snapshot: dict[str, dict[str, object]] = {}
    for table in sorted(inspector.get_table_names()):
        snapshot[table] = {
            "columns": [
                (column["name"], str(column["type"]), column["nullable"])
                for column in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (index["name"] or "", tuple(index["column_names"]))
                for index in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(unique["column_names"])
                for unique in inspector.get_unique_constraints(table)
            ),
        }
    return snapshot


def current_revisions(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        return [row[0] for row in rows]


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1


def test_empty_database_has_no_tables(engine: Engine) -> None:
    assert inspect(engine).get_table_names() == []


def test_upgrade_creates_model_tables(empty_database_url: str, engine: Engine) -> None:
    upgrade_schema(empty_database_url)
    expected = {*Base.metadata.tables, "alembic_version"}
    assert set(inspect(engine).get_table_names()) == expected


def test_upgrade_matches_models(empty_database_url: str, engine: Engine) -> None:
    upgrade_schema(empty_database_url)
    assert schema_differences(engine) == []


def test_upgrade_records_head(empty_database_url: str, engine: Engine) -> None:
    upgrade_schema(empty_database_url)
    assert current_revisions(engine) == [head_revision()]


def test_second_upgrade_keeps_schema(empty_database_url: str, engine: Engine) -> None:
    upgrade_schema(empty_database_url)
    before = schema_snapshot(engine)
    upgrade_schema(empty_database_url)
    assert schema_snapshot(engine) == before


def test_second_upgrade_keeps_revision(empty_database_url: str, engine: Engine) -> None:
    upgrade_schema(empty_database_url)
    upgrade_schema(empty_database_url)
    assert current_revisions(engine) == [head_revision()]


def test_second_upgrade_keeps_rows(empty_database_url: str) -> None:
    upgrade_schema(empty_database_url)
    database = Database(empty_database_url)
    try:
        with database.session() as session:
            session.add(User(username="keeper", password_hash=hash_password("x")))
        upgrade_schema(empty_database_url)
        with database.session() as session:
            names = session.scalars(select(User.username)).all()
    finally:
        database.dispose()
    assert names == ["keeper"]


def test_downgrade_drops_model_tables(empty_database_url: str, engine: Engine) -> None:
    upgrade_schema(empty_database_url)
    command.downgrade(alembic_config(empty_database_url), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}


def test_upgrade_after_downgrade_matches_models(
    empty_database_url: str, engine: Engine
) -> None:
    upgrade_schema(empty_database_url)
    command.downgrade(alembic_config(empty_database_url), "base")
    upgrade_schema(empty_database_url)
    assert schema_differences(engine) == []


def test_shared_test_database_matches_models(database_url: str) -> None:
    # The live server fixture may have migrated this database already, so this
    # upgrade is either the first one or a no-op on a database in use.
    upgrade_schema(database_url)
    engine = make_engine(database_url)
    try:
        differences = schema_differences(engine)
    finally:
        engine.dispose()
    assert differences == []


def _add_ldap_groups(engine: Engine, dn: str, names: list[str]) -> None:
    with engine.begin() as connection:
        for name in names:
            connection.execute(
                text(
                    "INSERT INTO user_groups (group_name, group_type, ldap_group_dn, "
                    "created_at, updated_at) VALUES (:name, 1, :dn, :now, :now)"
                ),
                {"name": name, "dn": dn, "now": datetime.now(UTC)},
            )


def test_ldap_groups_cannot_share_a_dn(empty_database_url: str, engine: Engine) -> None:
    upgrade_schema(empty_database_url)
    _add_ldap_groups(engine, "cn=dev,dc=example,dc=com", ["dev"])

    with pytest.raises(IntegrityError):
        _add_ldap_groups(engine, "cn=dev,dc=example,dc=com", ["developers"])


def test_other_groups_share_the_empty_dn(
    empty_database_url: str, engine: Engine
) -> None:
    upgrade_schema(empty_database_url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for name, group_type in (("proxy-a", 2), ("proxy-b", 2), ("oidc-a", 3)):
            connection.execute(
                text(
                    "INSERT INTO user_groups (group_name, group_type, ldap_group_dn, "
                    "created_at, updated_at) VALUES (:name, :type, '', :now, :now)"
                ),
                {"name": name, "type": group_type, "now": now},
            )
    with engine.connect() as connection:
        count = connection.execute(text("SELECT COUNT(*) FROM user_groups")).scalar()
    assert count == 3


def test_dn_index_upgrade_names_shared_dns(
    empty_database_url: str, engine: Engine
) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0006")
    _add_ldap_groups(engine, "cn=ops,dc=example,dc=com", ["ops", "operations"])

    with pytest.raises(RuntimeError, match=r"cn=ops,dc=example,dc=com \(2 groups\)"):
        command.upgrade(config, "0007")
    assert current_revisions(engine) == ["0006"]
    engine.dispose()
    assert other_connections(engine) == 0


def other_connections(engine: Engine) -> int:
    """Return how many other sessions hold this PostgreSQL database open.

    A failed upgrade must close its connection. SQLite has no sessions to
    count, so it reports 0.
    """
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as connection:
        count = connection.execute(
            text(
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    engine.dispose()
    return int(count)
