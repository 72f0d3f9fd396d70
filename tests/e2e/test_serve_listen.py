"""`seawall serve` starts on a host name or a bracketed IPv6 listen address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.protocol_helpers import describe
from tests.support.server import ADMIN_PASSWORD, free_port, wait_until_ready


@pytest.mark.parametrize(
    ("listen_host", "url_host"),
    [
        ("localhost", "127.0.0.1"),
        ("[::1]", "[::1]"),
    ],
)
def test_serve_listens_on_name_and_bracketed_ipv6(
    tmp_path: Path, listen_host: str, url_host: str
) -> None:
    """serve starts on a host name or a bracketed IPv6 `--listen` address."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {
        **os.environ,
        "SEAWALL_LISTEN": f"{listen_host}:{port}",
        "SEAWALL_DATA_DIR": str(tmp_path / "data"),
        "SEAWALL_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    env.pop("SEAWALL_DATABASE_URL", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "seawall", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(f"http://{url_host}:{port}", process, log_path)
        response = httpx.get(f"http://{url_host}:{port}/v2/", timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert response.status_code == 401, describe(response)
    assert "Traceback" not in log_path.read_text()
