"""The `seawall` command: version, help text, and a first start with default settings."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from seawall import __version__
from seawall.settings import DEFAULT_ADMIN_PASSWORD, Settings
from tests.support.process import RegistryProcess, json_log_records, registry_process

SEAWALL_SCRIPT = Path(sys.executable).parent / "seawall"
CUSTOM_PASSWORD = "Cli-Test-Password-1"


def run_seawall(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    if not SEAWALL_SCRIPT.is_file():
        pytest.fail(
            f"{SEAWALL_SCRIPT} not found; install the package with pip install -e ."
        )
    return subprocess.run(
        [str(SEAWALL_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def warnings_about_admin_password(log_path: Path) -> list[str]:
    return [
        record["event"]
        for record in json_log_records(log_path)
        if record.get("level") == "warning" and "admin password" in record["event"]
    ]


def collapse_whitespace(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@dataclass(frozen=True)
class FirstStart:
    """A server started once on a data folder that did not exist before."""

    server: RegistryProcess
    data_dir: Path
    log_path: Path


@pytest.fixture(scope="module")
def first_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstStart]:
    """Run `python -m seawall serve` with no password and no database setting.

    Logs are JSON so the tests can pick out the warning by its level.
    """
    folder = tmp_path_factory.mktemp("first-start")
    data_dir = folder / "data"
    log_path = folder / "server.log"
    with registry_process(
        data_dir,
        None,
        log_path,
        admin_password=None,
        extra_env={"SEAWALL_LOG_FORMAT": "json"},
    ) as server:
        yield FirstStart(server, data_dir, log_path)


# Version and help


def test_version_prints_version() -> None:
    result = run_seawall("--version")
    assert result.stdout.strip() == f"seawall, version {__version__}"


def test_version_exits_zero() -> None:
    assert run_seawall("--version").returncode == 0


def test_module_version_matches_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seawall", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert __version__ in result.stdout


@pytest.fixture(scope="module")
def serve_help() -> str:
    result = run_seawall("serve", "--help")
    assert result.returncode == 0, result.stderr
    return collapse_whitespace(result.stdout)


@pytest.mark.parametrize(
    "option", ["--listen", "--data-dir", "--database-url", "--admin-password"]
)
def test_help_lists_core_option(serve_help: str, option: str) -> None:
    assert f"{option} " in serve_help


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_help_lists_every_setting(serve_help: str, name: str) -> None:
    assert f"--{name.replace('_', '-')} " in serve_help


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_help_names_environment_variable(serve_help: str, name: str) -> None:
    assert f"SEAWALL_{name.upper()}" in serve_help


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_help_gives_description(serve_help: str, name: str) -> None:
    description = Settings.model_fields[name].description
    assert description is not None
    assert collapse_whitespace(description.split(";")[0]) in serve_help


def test_help_hides_default_password(serve_help: str) -> None:
    assert DEFAULT_ADMIN_PASSWORD not in serve_help


# Bad settings


def test_invalid_listen_exits_with_usage_error() -> None:
    result = run_seawall("serve", "--listen", "no-port")
    assert result.returncode == 2


def test_invalid_listen_message_names_setting() -> None:
    result = run_seawall("serve", "--listen", "no-port")
    assert "listen must be HOST:PORT" in result.stderr


def test_invalid_listen_prints_no_traceback() -> None:
    result = run_seawall("serve", "--listen", "no-port")
    assert "Traceback" not in result.stderr


def test_missing_config_file_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    result = run_seawall("serve", "--config", str(missing))
    assert str(missing) in result.stderr


def test_missing_config_file_prints_no_traceback(tmp_path: Path) -> None:
    result = run_seawall("serve", "--config", str(tmp_path / "missing.toml"))
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_nonzero(tmp_path: Path) -> None:
    result = run_seawall("serve", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode != 0


# First start


def test_first_start_creates_data_dir(first_start: FirstStart) -> None:
    assert first_start.data_dir.is_dir()


def test_first_start_creates_sqlite_database(first_start: FirstStart) -> None:
    assert (first_start.data_dir / "seawall.db").is_file()


def test_first_start_creates_blob_folders(first_start: FirstStart) -> None:
    assert (first_start.data_dir / "blobs").is_dir()


def test_sqlite_database_holds_admin(first_start: FirstStart) -> None:
    path = first_start.data_dir / "seawall.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT username, sysadmin FROM users WHERE username = 'admin'"
        ).fetchall()
    assert rows == [("admin", 1)]


def test_first_start_warns_default_password(first_start: FirstStart) -> None:
    assert warnings_about_admin_password(first_start.log_path) != []


def test_warning_names_password_variable(first_start: FirstStart) -> None:
    warnings = warnings_about_admin_password(first_start.log_path)
    assert any("SEAWALL_ADMIN_PASSWORD" in event for event in warnings)


def test_log_never_contains_password(first_start: FirstStart) -> None:
    assert DEFAULT_ADMIN_PASSWORD not in first_start.log_path.read_text()


def test_default_admin_password_works(first_start: FirstStart) -> None:
    response = httpx.get(
        f"{first_start.server.url}/v2/",
        auth=("admin", DEFAULT_ADMIN_PASSWORD),
        timeout=30,
    )
    assert response.status_code == 200


def test_wrong_admin_password_rejected(first_start: FirstStart) -> None:
    response = httpx.get(
        f"{first_start.server.url}/v2/", auth=("admin", "wrong-password"), timeout=30
    )
    assert response.status_code == 401


def test_anonymous_catalog_allowed(first_start: FirstStart) -> None:
    response = httpx.get(f"{first_start.server.url}/v2/_catalog", timeout=30)
    assert response.status_code == 200


def test_library_pull_allowed_anonymously(first_start: FirstStart) -> None:
    url = first_start.server.url
    content = b"library is public"
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    pushed = httpx.post(
        f"{url}/v2/library/cli-check/blobs/uploads/",
        params={"digest": digest},
        content=content,
        headers={"Content-Type": "application/octet-stream"},
        auth=("admin", DEFAULT_ADMIN_PASSWORD),
        timeout=30,
    )
    assert pushed.status_code == 201
    pulled = httpx.get(f"{url}/v2/library/cli-check/blobs/{digest}", timeout=30)
    assert pulled.content == content


def test_library_push_denied_anonymously(first_start: FirstStart) -> None:
    response = httpx.post(
        f"{first_start.server.url}/v2/library/cli-anonymous/blobs/uploads/",
        timeout=30,
    )
    assert response.status_code == 401


# Admin password setting


def test_set_password_not_warned(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with registry_process(
        tmp_path / "data",
        None,
        log_path,
        admin_password=CUSTOM_PASSWORD,
        extra_env={"SEAWALL_LOG_FORMAT": "json"},
    ):
        pass
    assert warnings_about_admin_password(log_path) == []


def test_set_password_replaces_default(tmp_path: Path) -> None:
    with registry_process(
        tmp_path / "data", None, tmp_path / "server.log", admin_password=CUSTOM_PASSWORD
    ) as server:
        default = httpx.get(
            f"{server.url}/v2/", auth=("admin", DEFAULT_ADMIN_PASSWORD), timeout=30
        )
        custom = httpx.get(
            f"{server.url}/v2/", auth=("admin", CUSTOM_PASSWORD), timeout=30
        )
    assert (default.status_code, custom.status_code) == (401, 200)


def test_ignored_password_setting_warns(tmp_path: Path) -> None:
    # The password is set only when the database is created. An operator who
    # sets SEAWALL_ADMIN_PASSWORD after a first start with the default must
    # still get a warning that admin keeps the public default password.
    data_dir = tmp_path / "data"
    first_log = tmp_path / "first.log"
    second_log = tmp_path / "second.log"
    extra_env = {"SEAWALL_LOG_FORMAT": "json"}
    with registry_process(
        data_dir, None, first_log, admin_password=None, extra_env=extra_env
    ):
        pass
    with registry_process(
        data_dir,
        None,
        second_log,
        admin_password=CUSTOM_PASSWORD,
        extra_env=extra_env,
    ) as server:
        still_default = httpx.get(
            f"{server.url}/v2/", auth=("admin", DEFAULT_ADMIN_PASSWORD), timeout=30
        )
    assert still_default.status_code == 200
    assert warnings_about_admin_password(second_log) != []


def test_migrate_keeps_sqlite_database_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "SEAWALL_DATA_DIR": str(data_dir),
        "SEAWALL_ADMIN_PASSWORD": "Private-Pass-1",
    }
    env.pop("SEAWALL_DATABASE_URL", None)

    result = run_seawall("migrate", env=env)

    assert result.returncode == 0, result.stderr
    mode = (data_dir / "seawall.db").stat().st_mode & 0o777
    assert mode == 0o600


@pytest.mark.parametrize("command", [("vulndb", "import"), ("vulndb", "status")])
def test_vulndb_help_lists_database_options_only(command: tuple[str, ...]) -> None:
    result = run_seawall(*command, "--help")
    assert result.returncode == 0, result.stderr
    text = collapse_whitespace(result.stdout)
    assert "--data-dir " in text
    assert "--database-url " in text
    assert "--listen " not in text
    assert "--workers " not in text


def test_migrate_help_lists_admin_password() -> None:
    result = run_seawall("migrate", "--help")
    assert result.returncode == 0, result.stderr
    text = collapse_whitespace(result.stdout)
    assert "--admin-password " in text
    assert "--listen " not in text


@pytest.mark.parametrize("reuse_port", [False, True])
def test_serve_refuses_an_address_in_use(tmp_path: Path, reuse_port: bool) -> None:
    """Another listener, even one that shares its port, stops serve at once."""
    with socket.socket() as listener:
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = run_seawall(
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(tmp_path / "data"),
        )

    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("password", "warned"), [("onlylowercase", True), ("Strong-Pass-1", False)]
)
def test_migrate_warns_about_a_weak_admin_password(
    tmp_path: Path, password: str, warned: bool
) -> None:
    env = {
        **os.environ,
        "SEAWALL_DATA_DIR": str(tmp_path / "data"),
        "SEAWALL_ADMIN_PASSWORD": password,
        "SEAWALL_LOG_FORMAT": "json",
    }
    env.pop("SEAWALL_DATABASE_URL", None)
    result = run_seawall("migrate", env=env)

    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert ("admin password is weak" in output) is warned
    assert password not in output


def test_migrate_warns_when_admin_password_changes_later(tmp_path: Path) -> None:
    """A new SEAWALL_ADMIN_PASSWORD on a later start does not change the stored one."""
    env = {
        **os.environ,
        "SEAWALL_DATA_DIR": str(tmp_path / "data"),
        "SEAWALL_ADMIN_PASSWORD": "First-Pass-1",
        "SEAWALL_LOG_FORMAT": "json",
    }
    env.pop("SEAWALL_DATABASE_URL", None)
    first = run_seawall("migrate", env=env)
    same = run_seawall("migrate", env=env)
    changed = run_seawall(
        "migrate", env={**env, "SEAWALL_ADMIN_PASSWORD": "Second-Pass-2"}
    )

    assert first.returncode == 0, first.stderr
    assert same.returncode == 0, same.stderr
    assert changed.returncode == 0, changed.stderr
    notice = "is used only when user admin is created"
    assert notice not in first.stdout + first.stderr
    assert notice not in same.stdout + same.stderr
    output = changed.stdout + changed.stderr
    assert notice in output
    assert "PUT /api/v2.0/users/1/password" in output
    assert "Second-Pass-2" not in output


def test_serve_names_an_invalid_setting(tmp_path: Path) -> None:
    result = run_seawall(
        "serve", "--log-level", "verbose", "--data-dir", str(tmp_path / "data")
    )

    assert result.returncode == 2
    assert "--log-level (SEAWALL_LOG_LEVEL)" in result.stderr
    assert "got 'verbose'" in result.stderr
    assert "pydantic.dev" not in result.stderr


def test_serve_names_unknown_config_key(tmp_path: Path) -> None:
    config = tmp_path / "seawall.toml"
    config.write_text('listn = "127.0.0.1:5000"\n')
    env = {**os.environ, "SEAWALL_CONFIG": str(config)}

    result = run_seawall("serve", env=env)

    assert result.returncode == 2
    assert f"config file {config}: unknown setting 'listn'" in result.stderr
    assert "--listn" not in result.stderr


def test_serve_invalid_listen_said_once(tmp_path: Path) -> None:
    result = run_seawall(
        "serve", "--listen", "bad", "--data-dir", str(tmp_path / "data")
    )

    assert result.returncode == 2
    assert "--listen (SEAWALL_LISTEN): listen must be HOST:PORT, got 'bad'" in (
        result.stderr
    )
    assert result.stderr.count("'bad'") == 1
    assert "Value error" not in result.stderr


def test_serve_database_url_scheme_hint(tmp_path: Path) -> None:
    result = run_seawall(
        "serve",
        "--database-url",
        "postgres://user:hidden-secret@127.0.0.1/test",
        "--data-dir",
        str(tmp_path / "data"),
    )

    assert result.returncode == 2
    assert "postgresql+psycopg://USER@HOST:PORT/DATABASE" in result.stderr
    assert "hidden-secret" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_serve_help_lists_choices() -> None:
    result = run_seawall("serve", "--help")

    assert result.returncode == 0
    assert "--log-format [console|json]" in result.stdout
    assert "--log-level [debug|info|warning|error]" in result.stdout
    assert "--upload-write-mode [direct|writeback]" in result.stdout
    assert "--upload-read-back [true|false]" in result.stdout
