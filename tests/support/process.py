"""Run `seawall serve` in its own process group, so a test can kill it hard.

`tests.support.server.start_registry` stops the server politely. Crash tests
need the opposite: SIGKILL for the Granian main process and every worker it
started, with no chance to clean up, then a new server on the same data
folder and database. The server is the leader of a new session, so its
process group id is its pid and `os.killpg` reaches the workers too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import databases
from tests.support.server import ADMIN_PASSWORD, free_port, wait_until_ready

STOP_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class RegistryProcess:
    """A running `seawall serve` and the files it was started with."""

    url: str
    host: str
    data_dir: Path
    database_url: str | None
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def process_group(self) -> int:
        return self.process.pid


def server_environment(
    host: str,
    data_dir: Path,
    database_url: str | None,
    admin_password: str | None,
    extra_env: dict[str, str] | None,
) -> dict[str, str]:
    """Return this process's environment with only the given `SEAWALL_*` settings.

    Inherited `SEAWALL_*` variables are dropped, so a setting left unset here
    takes its default in the server.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SEAWALL_")
    }
    env["SEAWALL_LISTEN"] = host
    env["SEAWALL_DATA_DIR"] = str(data_dir)
    if database_url is not None:
        env["SEAWALL_DATABASE_URL"] = database_url
    if admin_password is not None:
        env["SEAWALL_ADMIN_PASSWORD"] = admin_password
    env.update(extra_env or {})
    return env


def launch_registry(
    data_dir: Path,
    database_url: str | None,
    log_path: Path,
    *,
    admin_password: str | None = ADMIN_PASSWORD,
    extra_env: dict[str, str] | None = None,
) -> RegistryProcess:
    """Start `python -m seawall serve` on a free loopback port and wait for `/v2/`.

    `database_url` None leaves the server on its default SQLite file, and
    `admin_password` None leaves it on the default password. The log is
    appended to, so a restarted server adds to the same file.
    """
    host = f"127.0.0.1:{free_port()}"
    env = server_environment(host, data_dir, database_url, admin_password, extra_env)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "seawall", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RegistryProcess(
        f"http://{host}", host, data_dir, database_url, log_path, process
    )
    try:
        wait_until_ready(running.url, process, log_path)
    except BaseException:
        kill_hard(running)
        raise
    return running


def group_members(group: int) -> list[int]:
    """Return the live (not zombie) processes whose process group is `group`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may itself contain spaces
        # or parentheses, so fields are counted from the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state not in {"Z", "X"}:
            members.append(int(entry.name))
    return members


def wait_for_group_exit(group: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_members(group):
            return True
        time.sleep(0.05)
    return not group_members(group)


def kill_hard(running: RegistryProcess) -> None:
    """Send SIGKILL to the server and its workers and wait until all are gone."""
    with suppress(ProcessLookupError):
        os.killpg(running.process_group, signal.SIGKILL)
    running.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    if not wait_for_group_exit(running.process_group, STOP_TIMEOUT_SECONDS):
        survivors = group_members(running.process_group)
        raise RuntimeError(f"registry processes {survivors} survived SIGKILL")


def stop(running: RegistryProcess) -> None:
    """Stop the server with SIGTERM, and with SIGKILL if it does not exit in time."""
    if not group_members(running.process_group):
        running.process.wait()
        return
    with suppress(ProcessLookupError):
        os.killpg(running.process_group, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        running.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    if not wait_for_group_exit(running.process_group, STOP_TIMEOUT_SECONDS):
        kill_hard(running)


@contextmanager
def registry_process(
    data_dir: Path,
    database_url: str | None,
    log_path: Path,
    *,
    admin_password: str | None = ADMIN_PASSWORD,
    extra_env: dict[str, str] | None = None,
) -> Iterator[RegistryProcess]:
    """Run a server until the block exits, then stop whatever is left of it."""
    running = launch_registry(
        data_dir,
        database_url,
        log_path,
        admin_password=admin_password,
        extra_env=extra_env,
    )
    try:
        yield running
    finally:
        stop(running)


@contextmanager
def own_registry(
    folder: Path, extra_env: dict[str, str] | None = None
) -> Iterator[RegistryProcess]:
    """Run a server on a new database of the selected backend, with data in `folder`."""
    with (
        databases.test_database_url(folder) as database_url,
        registry_process(
            folder / "data", database_url, folder / "server.log", extra_env=extra_env
        ) as running,
    ):
        yield running


def json_log_records(log_path: Path) -> list[dict[str, Any]]:
    """Return the records of a server log written with SEAWALL_LOG_FORMAT=json.

    Lines that are not JSON objects, such as Granian's own log lines and
    tracebacks, are skipped.
    """
    records = []
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def process_stat(pid: int) -> list[str]:
    """Return the fields of /proc/PID/stat after the command name, or [] if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    # The command name is in parentheses and may contain spaces, so fields
    # are counted from the last ')'. Index 0 is the state (field 3 in proc(5)).
    return stat[stat.rindex(")") + 2 :].split()


def worker_pids(running: RegistryProcess) -> list[int]:
    """Return the live worker processes of the server, oldest first."""
    main_pid = running.process.pid
    started_at = {}
    for pid in group_members(main_pid):
        fields = process_stat(pid)
        if fields and int(fields[1]) == main_pid:
            started_at[pid] = int(fields[19])
    return sorted(started_at, key=lambda pid: (started_at[pid], pid))
