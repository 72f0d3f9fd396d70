"""Start-up errors of `seawall migrate` and `seawall serve`: one line, no traceback.

Both commands run as real processes with settings only from the
environment. A database that cannot be reached is a loopback port that
nothing listens on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support import databases
from tests.support.process import group_members, wait_for_group_exit
from tests.support.server import free_port

SEAWALL = [sys.executable, "-m", "seawall"]
DATABASE_PASSWORD = "hidden-db-password"


def seawall_environment(**settings: str) -> dict[str, str]:
    """Return this process's environment with only the given `SEAWALL_*` settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SEAWALL_")
    }
    env["SEAWALL_LISTEN"] = f"127.0.0.1:{free_port()}"
    env.update({f"SEAWALL_{name.upper()}": value for name, value in settings.items()})
    return env


def run_command(
    command: str, cwd: Path, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run `seawall COMMAND` (words split on spaces), expected to fail before it serves."""
    return subprocess.run(
        [*SEAWALL, *command.split()],
        cwd=cwd,
        env=seawall_environment(**settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def unreachable_server_line(result: subprocess.CompletedProcess[str], port: int) -> str:
    """Return the single stderr line, which must name the server on `port` as unreachable."""
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"Error: database server at 127.0.0.1:{port} could not be reached: "
    )
    return lines[0]


@pytest.mark.parametrize(
    ("data_dir", "message"),
    [
        (
            "taken",
            "Error: data folder taken exists but is not a folder; set --data-dir "
            "or SEAWALL_DATA_DIR to a folder",
        ),
        (
            "taken/inner",
            "Error: cannot create data folder taken/inner: Not a directory",
        ),
    ],
)
def test_migrate_data_dir_is_a_file(
    tmp_path: Path, data_dir: str, message: str
) -> None:
    (tmp_path / "taken").write_text("not a folder")

    result = run_command("migrate", tmp_path, data_dir=data_dir)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert error_lines(result) == [message]
    assert (tmp_path / "taken").read_text() == "not a folder"


@pytest.mark.parametrize(
    "command",
    ["migrate", "serve", "vulndb status", "vulndb import osv.zip", "scanner serve"],
)
def test_unreachable_database_is_one_line(tmp_path: Path, command: str) -> None:
    port = free_port()
    database_url = (
        f"postgresql+psycopg://seawall:{DATABASE_PASSWORD}@127.0.0.1:{port}/registry"
    )
    # The import opens the database before it reads the file.
    (tmp_path / "osv.zip").write_bytes(b"")

    result = run_command(command, tmp_path, data_dir="data", database_url=database_url)

    assert result.returncode != 0
    line = unreachable_server_line(result, port)
    assert "Connection refused" in line
    assert DATABASE_PASSWORD not in result.stderr
    assert DATABASE_PASSWORD not in result.stdout


def test_silent_database_server_times_out(tmp_path: Path) -> None:
    # The kernel completes the TCP handshake for a listening socket, so the
    # client connects, sends its start-up message and waits for a reply
    # that never comes. Without a connect timeout it would wait forever.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        database_url = f"postgresql+psycopg://seawall@127.0.0.1:{port}/registry"

        result = run_command(
            "migrate", tmp_path, data_dir="data", database_url=database_url
        )

    assert result.returncode == 1, result.stderr
    line = unreachable_server_line(result, port)
    assert "timeout expired" in line


@pytest.mark.skipif(
    databases.selected_backend() != "postgresql",
    reason="needs the PostgreSQL server of SEAWALL_TEST_DATABASE=postgresql",
)
@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_missing_postgresql_database_is_one_line(tmp_path: Path, command: str) -> None:
    server = make_url(
        os.environ.get("SEAWALL_TEST_POSTGRES_URL", databases.DEFAULT_POSTGRES_URL)
    )
    database_url = server.set(
        drivername="postgresql+psycopg",
        password=DATABASE_PASSWORD,
        database="seawall_missing_database",
    ).render_as_string(hide_password=False)

    result = run_command(command, tmp_path, data_dir="data", database_url=database_url)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"Error: database server at {server.host}:{server.port or 5432} "
        "rejected the connection: "
    )
    assert 'database "seawall_missing_database" does not exist' in lines[0]
    assert "createdb" in lines[0]
    assert DATABASE_PASSWORD not in result.stderr


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_sqlite_file_in_missing_folder(tmp_path: Path, command: str) -> None:
    database = tmp_path / "missing" / "seawall.db"

    result = run_command(
        command, tmp_path, data_dir="data", database_url=f"sqlite:///{database}"
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: cannot open the SQLite database {database}: ")
    assert "createdb" not in lines[0]


def migrate_child(serve_pid: int) -> int:
    """Wait until `serve_pid` has started its `seawall migrate` child and return its pid."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in group_members(serve_pid):
            with contextlib.suppress(OSError):
                arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if pid != serve_pid and b"migrate" in arguments:
                    return pid
        time.sleep(0.01)
    raise AssertionError("serve started no migrate child within 30 s")


def test_serve_reports_killed_migrate_child(tmp_path: Path) -> None:
    """A migrate child ended by a signal, as the OOM killer would, gets one line."""
    with databases.test_database_url(tmp_path) as database_url:
        process = subprocess.Popen(
            [*SEAWALL, "serve"],
            cwd=tmp_path,
            env=seawall_environment(data_dir="data", database_url=database_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            os.kill(migrate_child(process.pid), signal.SIGKILL)
            _, stderr = process.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            wait_for_group_exit(process.pid, 30)

    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "Error: preparing the database failed: seawall migrate was killed by SIGKILL"
    )
