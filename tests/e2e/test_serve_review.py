"""`seawall serve` as a process: settings, stop signals, start-up errors, upload races.

Each test starts its own server, because they send signals to it, start it
with bad settings, or race requests against one upload.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.protocol_helpers import (
    OCTET_STREAM,
    admin_authorization,
    describe,
    digest_of,
    error_codes,
    start_upload,
)
from tests.support import databases
from tests.support.process import (
    RegistryProcess,
    group_members,
    json_log_records,
    own_registry,
    stop,
    wait_for_group_exit,
)
from tests.support.server import ADMIN_PASSWORD, free_port, wait_until_ready

SEAWALL_SERVE = [sys.executable, "-m", "seawall", "serve"]


def environment_without_settings() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SEAWALL_")
    }


def run_serve(cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run `seawall serve` that is expected to fail before it starts serving."""
    return subprocess.run(
        [*SEAWALL_SERVE, "--listen", f"127.0.0.1:{free_port()}", *options],
        cwd=cwd,
        env=environment_without_settings(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_while_workers_start(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    """A stop signal that arrives while workers still load the app ends them all."""
    with own_registry(tmp_path, extra_env={"SEAWALL_WORKERS": "4"}) as running:
        # The first worker responds, and the others are still building the app.
        os.kill(running.process.pid, stop_signal)
        try:
            exit_code = running.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            exit_code = None
        left = group_members(running.process.pid)

    assert exit_code == 0
    assert left == []
    assert "Traceback" not in running.log_path.read_text()


def command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode() for part in raw.split(b"\0") if part]


def wait_for_migrate_child(serve_pid: int) -> None:
    """Wait until `serve_pid` has started its `seawall migrate` child."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in group_members(serve_pid):
            if pid != serve_pid and command_line(pid)[-1:] == ["migrate"]:
                return
        time.sleep(0.01)
    raise AssertionError("serve started no migrate child within 30 s")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_during_migration(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    """A stop signal while the database is prepared also ends the migrate child."""
    log_path = tmp_path / "serve.log"
    with (
        databases.test_database_url(tmp_path) as database_url,
        log_path.open("wb") as log,
    ):
        process = subprocess.Popen(
            [
                *SEAWALL_SERVE,
                "--listen",
                f"127.0.0.1:{free_port()}",
                "--data-dir",
                str(tmp_path / "data"),
                "--database-url",
                database_url,
            ],
            env=environment_without_settings(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_migrate_child(process.pid)
            os.kill(process.pid, stop_signal)
            exit_code = process.wait(timeout=30)
            # Checked at once, because an orphaned child would still be
            # migrating the database now.
            left = group_members(process.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            wait_for_group_exit(process.pid, 30)

    output = log_path.read_text(errors="replace")
    assert left == []
    assert exit_code == 1, output
    assert f"stopped by {stop_signal.name} before the server started" in output
    assert "Traceback" not in output


def worker_starts(log_path: Path) -> list[dict[str, Any]]:
    return [
        record
        for record in json_log_records(log_path)
        if record["event"] == "worker started"
    ]


def test_options_override_config_in_workers(tmp_path: Path) -> None:
    """Options reach the workers ahead of the config file, with relative paths."""
    config = tmp_path / "server settings.toml"
    config.write_text(
        'data_dir = "config data"\nlog_format = "console"\nworkers = 1\n'
        f'admin_password = "{ADMIN_PASSWORD}"\n'
    )
    host = f"127.0.0.1:{free_port()}"
    log_path = tmp_path / "server.log"
    with databases.test_database_url(tmp_path) as database_url:
        options = [
            "--config",
            config.name,
            "--listen",
            host,
            "--data-dir",
            "option data",
            "--database-url",
            database_url,
            "--log-format",
            "json",
            "--workers",
            "2",
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*SEAWALL_SERVE, *options],
                cwd=tmp_path,
                env=environment_without_settings(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        running = RegistryProcess(
            f"http://{host}", host, tmp_path, database_url, log_path, process
        )
        try:
            wait_until_ready(running.url, process, log_path)
            blob = b"stored by a worker"
            with httpx.Client(
                base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=30
            ) as client:
                location = start_upload(client, "library/options").headers["Location"]
                response = client.put(
                    location,
                    params={"digest": digest_of(blob)},
                    content=blob,
                    headers=OCTET_STREAM,
                )
            assert response.status_code == 201, describe(response)
            # /v2/ responds once one worker is up, so wait for the second too.
            deadline = time.monotonic() + 30
            while len(worker_starts(log_path)) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop(running)

    blob_path = tmp_path / "option data" / "blobs" / "sha256" / digest_of(blob)[7:9]
    assert (blob_path / digest_of(blob)[7:]).read_bytes() == blob
    assert not (tmp_path / "config data").exists()
    assert len(worker_starts(log_path)) == 2
    log = log_path.read_text()
    assert "Traceback" not in log
    # serve flushes its own lines before Granian, which replaces it, writes.
    assert log.index('"server starting"') < log.index("Starting granian")


@pytest.mark.parametrize(
    ("data_dir", "message"),
    [
        ("taken", "Error: data folder taken exists but is not a folder"),
        (
            "taken/inner",
            "Error: cannot create data folder taken/inner: Not a directory",
        ),
    ],
)
def test_serve_data_dir_is_a_file(tmp_path: Path, data_dir: str, message: str) -> None:
    """A data folder path that names a file stops serve with one line."""
    (tmp_path / "taken").write_text("not a folder")

    result = run_serve(tmp_path, "--data-dir", data_dir)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(
    "database_url",
    [
        "not-a-url",
        "nodialect://127.0.0.1/seawall",
        "postgresql+nodriver://user:hidden-secret@127.0.0.1/seawall",
    ],
)
def test_serve_invalid_database_url(tmp_path: Path, database_url: str) -> None:
    """A database URL SQLAlchemy cannot use is an invalid setting, shown without password."""
    result = run_serve(tmp_path, "--data-dir", "data", "--database-url", database_url)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "--database-url (SEAWALL_DATABASE_URL)" in result.stderr
    assert "hidden-secret" not in result.stderr
    assert not (tmp_path / "data").exists()


def race_put_with_delete(
    clients: list[httpx.Client], location: str, digest: str
) -> tuple[httpx.Response, httpx.Response]:
    """Send the completing PUT and a DELETE of one upload at the same moment."""
    barrier = threading.Barrier(2)
    responses: dict[str, httpx.Response] = {}

    def put() -> None:
        barrier.wait()
        responses["put"] = clients[0].put(
            location, params={"digest": digest}, headers={"Content-Length": "0"}
        )

    def delete() -> None:
        barrier.wait()
        responses["delete"] = clients[1].delete(location)

    threads = [threading.Thread(target=put), threading.Thread(target=delete)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses["put"], responses["delete"]


def test_put_racing_delete_of_upload(tmp_path: Path) -> None:
    """Either the PUT stores the blob or the DELETE cancels the upload, never both."""
    outcomes = []
    with own_registry(tmp_path, extra_env={"SEAWALL_WORKERS": "2"}) as running:
        clients = [
            httpx.Client(
                base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=60
            )
            for _ in range(3)
        ]
        try:
            for _ in range(20):
                data = os.urandom(16 * 1024 * 1024)
                digest = digest_of(data)
                location = start_upload(clients[2], "library/race").headers["Location"]
                # The chunk may reach the other worker, which then has no
                # running hash and must read the whole file back on commit.
                response = clients[2].patch(
                    location, content=data, headers=OCTET_STREAM
                )
                assert response.status_code == 202, describe(response)

                put, delete = race_put_with_delete(clients, location, digest)
                pulled = clients[2].get(f"/v2/library/race/blobs/{digest}")
                outcomes.append(
                    (put.status_code, delete.status_code, pulled.status_code)
                )
                if pulled.status_code == 200:
                    assert pulled.content == data
        finally:
            for client in clients:
                client.close()

    assert set(outcomes) <= {(201, 404, 200), (404, 204, 404)}, outcomes
    assert "Traceback" not in running.log_path.read_text()


def test_delete_of_upload_with_stalled_patch(tmp_path: Path) -> None:
    """A DELETE gives up on an upload whose PATCH stalled, instead of waiting forever."""
    with (
        own_registry(tmp_path) as running,
        httpx.Client(
            base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        ) as client,
    ):
        location = start_upload(client, "library/stalled").headers["Location"]
        address, _, port = running.host.rpartition(":")
        with socket.create_connection((address, int(port)), timeout=60) as stalled:
            request_head = (
                f"PATCH {location} HTTP/1.1\r\nHost: {running.host}\r\n"
                f"Authorization: {admin_authorization()}\r\n"
                "Content-Length: 1000000\r\n\r\n"
            )
            stalled.sendall(request_head.encode() + b"x" * 10)
            time.sleep(1)

            started = time.monotonic()
            busy = client.delete(location)
            waited = time.monotonic() - started

        # The stalled PATCH ends with its connection and leaves no bytes behind.
        status = client.get(location)
        cancelled = client.delete(location)

    assert busy.status_code == 400, describe(busy)
    assert "BLOB_UPLOAD_INVALID" in error_codes(busy)
    assert waited < 30
    assert status.status_code == 204, describe(status)
    assert status.headers["Range"] == "0-0"
    assert cancelled.status_code == 204, describe(cancelled)
    assert "Traceback" not in running.log_path.read_text()
