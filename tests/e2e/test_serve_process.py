"""The process `seawall serve` leaves running loads Granian and nothing more.

Workers fork from that process, so whatever it has loaded stays resident
once in it and is counted again in every worker.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from tests.support.process import group_members, own_registry

# Shared objects of the libraries the registry app uses but a Granian main
# process does not need.
APP_LIBRARIES = ("_pydantic_core", "sqlalchemy", "_cffi_backend", "_rust.abi3")


def mapped_files(pid: int) -> set[str]:
    """Return the paths of the files mapped into process `pid`."""
    paths = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            paths.add(fields[5])
    return paths


def command_line(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode() for part in raw.split(b"\0") if part]


def test_serve_keeps_its_pid_and_loads_only_granian(tmp_path: Path) -> None:
    """serve becomes the launcher in place and leaves the app to its workers."""
    with own_registry(tmp_path) as running:
        main_pid = running.process.pid
        assert command_line(main_pid)[1:3] == ["-m", "seawall.launcher"]

        main_files = mapped_files(main_pid)
        assert any("granian" in path for path in main_files), sorted(main_files)
        loaded = [
            path
            for path in main_files
            for library in APP_LIBRARIES
            if library in Path(path).name
        ]
        assert loaded == []

        workers = [pid for pid in group_members(main_pid) if pid != main_pid]
        assert workers, "serve started no worker process"
        worker_files = set().union(*(mapped_files(pid) for pid in workers))
        assert any("_pydantic_core" in Path(path).name for path in worker_files)

        response = httpx.get(f"{running.url}/v2/", timeout=10)
        assert response.status_code == 401

        # SIGINT to the process serve started, as Ctrl-C sends, stops it all.
        os.kill(main_pid, signal.SIGINT)
        assert running.process.wait(timeout=30) == 0
    assert group_members(main_pid) == []
    assert "Traceback" not in running.log_path.read_text()
