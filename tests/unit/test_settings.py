"""Settings sources and validation: flags, `SEAWALL_*` variables, a TOML file, defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from seawall.settings import DEFAULT_ADMIN_PASSWORD, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Drop inherited `SEAWALL_*` variables and run from an empty folder."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"SEAWALL_{name.upper()}", raising=False)
    monkeypatch.chdir(tmp_path)


def write_toml(folder: Path, text: str) -> Path:
    path = folder / "seawall.toml"
    path.write_text(text)
    return path


# Defaults


def test_default_listen() -> None:
    assert Settings().listen == "127.0.0.1:5000"


def test_default_data_dir() -> None:
    assert Settings().data_dir == Path("data")


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    expected = f"sqlite:///{tmp_path.resolve() / 'data' / 'seawall.db'}"
    assert Settings().resolved_database_url == expected


def test_default_admin_password() -> None:
    assert Settings().admin_password.get_secret_value() == DEFAULT_ADMIN_PASSWORD


def test_default_password_is_harbor_default() -> None:
    assert DEFAULT_ADMIN_PASSWORD == "Harbor12345"


def test_default_password_flagged() -> None:
    assert Settings().uses_default_admin_password


def test_default_workers() -> None:
    assert Settings().workers == 1


def test_default_log_format() -> None:
    assert Settings().log_format == "console"


def test_default_log_level() -> None:
    assert Settings().log_level == "info"


def test_default_upload_expiry_one_day() -> None:
    assert Settings().upload_expiry_seconds == 86400


def test_default_manifest_limit_4_mib() -> None:
    assert Settings().max_manifest_bytes == 4 * 1024 * 1024


def test_default_credential_cache() -> None:
    assert Settings().credential_cache_seconds == 60.0


def test_default_auth_failure_limit() -> None:
    assert Settings().auth_failure_limit == 10


def test_admin_password_hidden_in_repr() -> None:
    settings = Settings(admin_password="Very-Secret-1")
    assert "Very-Secret-1" not in repr(settings)


# Environment variables


def test_listen_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_LISTEN", "127.0.0.2:8080")
    assert Settings().listen == "127.0.0.2:8080"


def test_host_and_port_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_LISTEN", "127.0.0.2:8080")
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.2", 8080)


def test_data_dir_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEAWALL_DATA_DIR", str(tmp_path / "registry"))
    assert Settings().data_dir == tmp_path / "registry"


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/seawall"
    monkeypatch.setenv("SEAWALL_DATABASE_URL", url)
    assert Settings().resolved_database_url == url


def test_admin_password_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_ADMIN_PASSWORD", "Env-Password-1")
    assert Settings().admin_password.get_secret_value() == "Env-Password-1"


def test_custom_password_not_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_ADMIN_PASSWORD", "Env-Password-1")
    assert not Settings().uses_default_admin_password


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("SEAWALL_WORKERS", "4", "workers", 4),
        ("SEAWALL_LOG_FORMAT", "json", "log_format", "json"),
        ("SEAWALL_LOG_LEVEL", "debug", "log_level", "debug"),
        ("SEAWALL_UPLOAD_EXPIRY_SECONDS", "60", "upload_expiry_seconds", 60),
        ("SEAWALL_MAX_MANIFEST_BYTES", "2048", "max_manifest_bytes", 2048),
        ("SEAWALL_CREDENTIAL_CACHE_SECONDS", "0", "credential_cache_seconds", 0.0),
        ("SEAWALL_AUTH_FAILURE_LIMIT", "3", "auth_failure_limit", 3),
    ],
)
def test_setting_from_environment(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    field: str,
    expected: object,
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(Settings(), field) == expected


def test_keyword_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_WORKERS", "4")
    assert Settings(workers=2).workers == 2


def test_unrelated_variable_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_TEST_DATABASE", "postgresql")
    assert Settings().listen == "127.0.0.1:5000"


# TOML file


def test_toml_file_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'listen = "127.0.0.1:6000"\nworkers = 3\n')
    monkeypatch.setenv("SEAWALL_CONFIG", str(path))
    settings = Settings()
    assert (settings.listen, settings.workers) == ("127.0.0.1:6000", 3)


def test_toml_file_from_keyword(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'log_level = "warning"\n')
    assert Settings(config=path).log_level == "warning"


def test_environment_beats_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_toml(tmp_path, "workers = 3\n")
    monkeypatch.setenv("SEAWALL_CONFIG", str(path))
    monkeypatch.setenv("SEAWALL_WORKERS", "5")
    assert Settings().workers == 5


def test_toml_beats_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'admin_password = "Toml-Password-1"\n')
    monkeypatch.setenv("SEAWALL_CONFIG", str(path))
    assert not Settings().uses_default_admin_password


def test_toml_unknown_key_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_toml(tmp_path, 'listne = "127.0.0.1:6000"\n')
    monkeypatch.setenv("SEAWALL_CONFIG", str(path))
    with pytest.raises(ValidationError, match="listne"):
        Settings()


def test_toml_invalid_value_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_toml(tmp_path, "workers = 0\n")
    monkeypatch.setenv("SEAWALL_CONFIG", str(path))
    with pytest.raises(ValidationError, match="workers"):
        Settings()


def test_missing_toml_file_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.toml"
    monkeypatch.setenv("SEAWALL_CONFIG", str(missing))
    with pytest.raises(ValueError, match=r"missing\.toml"):
        Settings()


def test_invalid_toml_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_toml(tmp_path, "workers = \n")
    monkeypatch.setenv("SEAWALL_CONFIG", str(path))
    with pytest.raises(ValueError, match=r"seawall\.toml"):
        Settings()


def test_config_setting_records_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_toml(tmp_path, "workers = 2\n")
    monkeypatch.setenv("SEAWALL_CONFIG", str(path))
    assert Settings().config == path


# Validation


@pytest.mark.parametrize(
    "listen",
    [
        "",
        "localhost",
        "5000",
        ":5000",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1:+80",
        "127.0.0.1:http",
        "127.0.0.1:5000x",
        "127.0.0.1: 5000",
    ],
)
def test_invalid_listen_rejected(listen: str) -> None:
    with pytest.raises(ValidationError, match="listen must be HOST:PORT"):
        Settings(listen=listen)


def test_invalid_listen_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_LISTEN", "no-port")
    with pytest.raises(ValidationError, match="listen"):
        Settings()


@pytest.mark.parametrize("listen", ["127.0.0.1:1", "localhost:65535", "[::1]:5000"])
def test_valid_listen_accepted(listen: str) -> None:
    assert Settings(listen=listen).listen == listen


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("workers", 0),
        ("upload_expiry_seconds", 59),
        ("max_manifest_bytes", 1023),
        ("credential_cache_seconds", -1),
        ("auth_failure_limit", 0),
        ("log_format", "xml"),
        ("log_level", "trace"),
    ],
)
def test_out_of_range_rejected(field: str, value: object) -> None:
    values: dict[str, Any] = {field: value}
    with pytest.raises(ValidationError, match=field):
        Settings(**values)


def test_unknown_keyword_rejected() -> None:
    values: dict[str, Any] = {"bind_address": "127.0.0.1"}
    with pytest.raises(ValidationError, match="bind_address"):
        Settings(**values)
