"""Start `seawall serve` as a real process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ADMIN_PASSWORD = "Seawall-Test-1"


@dataclass(frozen=True)
class RunningRegistry:
    url: str
    host: str
    data_dir: Path
    database_url: str
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"registry exited early:\n{log_path.read_text()[-4000:]}"
            )
        try:
            httpx.get(f"{url}/v2/", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(
        f"registry did not answer within 60 s:\n{log_path.read_text()[-4000:]}"
    )


@contextmanager
def start_registry(
    data_dir: Path, database_url: str, extra_env: dict[str, str] | None = None
) -> Iterator[RunningRegistry]:
    port = free_port()
    host = f"127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    env = {
        **os.environ,
        "SEAWALL_LISTEN": host,
        "SEAWALL_DATA_DIR": str(data_dir),
        "SEAWALL_DATABASE_URL": database_url,
        "SEAWALL_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Suites share one server and one client address; the limit itself
        # is tested on a server of its own.
        "SEAWALL_AUTH_FAILURE_LIMIT": "1000",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "seawall", "serve"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_ready(f"http://{host}", process, log_path)
        yield RunningRegistry(f"http://{host}", host, data_dir, database_url, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
