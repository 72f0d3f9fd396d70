"""Driver arguments that the engine adds to a PostgreSQL URL."""

from __future__ import annotations

import pytest

from seawall.db.session import (
    POSTGRESQL_CONNECT_TIMEOUT_SECONDS,
    make_engine,
    postgresql_connect_args,
)


def test_connect_timeout_added_by_default() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

    assert postgresql_connect_args(url) == {
        "connect_timeout": POSTGRESQL_CONNECT_TIMEOUT_SECONDS
    }


@pytest.mark.parametrize("value", ["3", "0"])
def test_connect_timeout_in_url_is_kept(value: str) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?connect_timeout={value}"

    assert postgresql_connect_args(url) == {}
    engine = make_engine(url)
    try:
        _, params = engine.dialect.create_connect_args(engine.url)
        assert params["connect_timeout"] == value
    finally:
        engine.dispose()
