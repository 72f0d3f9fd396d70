"""Start the reference registry (CNCF Distribution 2.8) as a real process.

Debian's `docker-registry` package ships Distribution 2.8 as
`/usr/bin/docker-registry`. The comparison tests run the same protocol
requests against it and against Seawall, so it runs without authentication,
with deletes enabled and with its filesystem storage in a temporary folder.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.server import free_port

REFERENCE_BINARY = Path("/usr/bin/docker-registry")
STARTUP_TIMEOUT_SECONDS = 30


class ReferenceRegistryMissing(RuntimeError):
    """The `docker-registry` binary is not installed."""


@dataclass(frozen=True)
class ReferenceRegistry:
    url: str
    host: str
    root_dir: Path
    log_path: Path


def write_config(folder: Path, host: str) -> Path:
    """Write a Distribution config file and return its path.

    YAML is a superset of JSON, so the file is written with `json` and the
    tests need no YAML library.
    """
    config = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(folder / "storage")},
            "delete": {"enabled": True},
        },
        # A fixed secret keeps the registry from warning that it made one up.
        "http": {"addr": host, "secret": secrets.token_hex(16)},
    }
    path = folder / "config.yml"
    path.write_text(json.dumps(config, indent=2))
    return path


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"docker-registry exited early:\n{log}")
        try:
            httpx.get(f"{url}/v2/", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    log = log_path.read_text(errors="replace")[-4000:]
    raise RuntimeError(
        f"docker-registry did not answer within {STARTUP_TIMEOUT_SECONDS} s:\n{log}"
    )


@contextmanager
def start_reference_registry(folder: Path) -> Iterator[ReferenceRegistry]:
    """Run `docker-registry serve` on a free loopback port until the block exits.

    Raises `ReferenceRegistryMissing` when the binary is not installed.
    """
    if not REFERENCE_BINARY.is_file() or shutil.which(str(REFERENCE_BINARY)) is None:
        raise ReferenceRegistryMissing(
            f"{REFERENCE_BINARY} not found; install Debian's docker-registry package "
            "(apt-get install -y docker-registry), which `make test` does"
        )
    host = f"127.0.0.1:{free_port()}"
    config_path = write_config(folder, host)
    log_path = folder / "registry.log"
    command = [str(REFERENCE_BINARY), "serve", str(config_path)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"http://{host}", process, log_path)
        yield ReferenceRegistry(f"http://{host}", host, folder / "storage", log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
