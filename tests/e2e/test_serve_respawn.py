"""Worker processes of `seawall serve` that die are replaced, up to a crash rate.

The kernel's OOM killer ends a process with SIGKILL, so the tests send
SIGKILL to real worker processes of a real server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from seawall.launcher import MAX_CRASHES_PER_WORKER
from tests.support.process import (
    RegistryProcess,
    group_members,
    json_log_records,
    own_registry,
    worker_pids,
)

WORKERS = 2
SERVER_ENV = {"SEAWALL_WORKERS": str(WORKERS), "SEAWALL_LOG_FORMAT": "json"}
WAIT_SECONDS = 60


def started_workers(running: RegistryProcess) -> list[int]:
    return [
        record["pid"]
        for record in json_log_records(running.log_path)
        if record["event"] == "worker started"
    ]


def wait_for_started_workers(running: RegistryProcess, count: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while len(started_workers(running)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} workers started"
        assert running.process.poll() is None, running.log_path.read_text()[-4000:]
        time.sleep(0.1)


def registry_status(running: RegistryProcess) -> int:
    # A new connection for each request, so none stays on the killed worker.
    return httpx.get(f"{running.url}/v2/", timeout=10).status_code


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGINT], ids=lambda sig: sig.name
)
def test_killed_worker_is_replaced(tmp_path: Path, stop_signal: signal.Signals) -> None:
    with own_registry(tmp_path, extra_env=SERVER_ENV) as running:
        main_pid = running.process.pid
        wait_for_started_workers(running, WORKERS)
        killed = worker_pids(running)[0]

        os.kill(killed, signal.SIGKILL)

        # The other worker responds while the replacement builds its app.
        statuses = []
        deadline = time.monotonic() + WAIT_SECONDS
        while len(started_workers(running)) < WORKERS + 1:
            assert time.monotonic() < deadline, "no replacement worker started"
            assert running.process.poll() is None, running.log_path.read_text()
            statuses.append(registry_status(running))
            time.sleep(0.2)
        workers = worker_pids(running)
        assert len(workers) == WORKERS
        assert killed not in workers
        assert started_workers(running)[-1] in workers
        assert set(statuses) == {401}
        assert registry_status(running) == 401

        os.kill(main_pid, stop_signal)
        exit_code = running.process.wait(timeout=30)
        left = group_members(main_pid)

    assert exit_code == 0
    assert left == []
    log = running.log_path.read_text()
    assert f"(PID {killed}) was killed by SIGKILL" in log
    assert "Traceback" not in log


def test_interrupt_to_group_stops_without_respawn(tmp_path: Path) -> None:
    """Ctrl-C reaches the workers too, and none of them is replaced on the way out."""
    with own_registry(tmp_path, extra_env=SERVER_ENV) as running:
        main_pid = running.process.pid
        wait_for_started_workers(running, WORKERS)

        os.killpg(main_pid, signal.SIGINT)
        exit_code = running.process.wait(timeout=30)
        left = group_members(main_pid)

    assert exit_code == 0
    assert left == []
    log = running.log_path.read_text()
    assert "Respawning" not in log
    assert "Traceback" not in log


def kill_oldest_worker(running: RegistryProcess) -> bool:
    """SIGKILL the oldest worker and wait for its replacement.

    Returns False when the server exited instead of replacing it. Killing
    the oldest worker each time kills the two worker slots in turn.
    """
    before = worker_pids(running)
    assert len(before) == WORKERS, before
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            return False
        now = worker_pids(running)
        if before[0] not in now and len(now) == WORKERS:
            return True
        time.sleep(0.01)
    raise AssertionError(
        "the killed worker was neither replaced nor the server stopped"
    )


def test_crash_loop_stops_server(tmp_path: Path) -> None:
    """Workers that keep dying stop the server with status 1 instead of looping."""
    limit = MAX_CRASHES_PER_WORKER * WORKERS
    with own_registry(tmp_path, extra_env=SERVER_ENV) as running:
        main_pid = running.process.pid
        wait_for_started_workers(running, WORKERS)

        kills = 0
        replaced = True
        while replaced and kills <= limit + 2:
            replaced = kill_oldest_worker(running)
            kills += 1
        try:
            exit_code = running.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            exit_code = None
        left = group_members(main_pid)

    assert kills == limit + 1
    assert exit_code == 1
    assert left == []
    log = running.log_path.read_text()
    assert f"workers crashed {limit + 1} times in 60 s" in log
