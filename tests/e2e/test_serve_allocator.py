"""Allocator options that `seawall serve` hands to Granian's workers.

Granian's jemalloc reads its options from the environment when the
library loads, so the tests read the environment of real worker
processes and check that jemalloc accepted the options.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from seawall.cli.serve import GRANIAN_ALLOCATOR_OPTIONS, GRANIAN_ALLOCATOR_VARIABLE
from tests.support.process import RegistryProcess, own_registry, worker_pids

WAIT_SECONDS = 60


def worker_environment(running: RegistryProcess) -> dict[str, str]:
    """Return the environment of the server's single worker process."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (workers := worker_pids(running)):
        assert time.monotonic() < deadline, "no worker process started"
        time.sleep(0.1)
    assert len(workers) == 1, workers
    raw = Path(f"/proc/{workers[0]}/environ").read_bytes()
    pairs = (entry.partition(b"=") for entry in raw.split(b"\0") if entry)
    return {name.decode(): value.decode() for name, _, value in pairs}


def test_workers_keep_freed_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(GRANIAN_ALLOCATOR_VARIABLE, raising=False)
    with own_registry(tmp_path, extra_env={"SEAWALL_WORKERS": "1"}) as running:
        environment = worker_environment(running)
        assert httpx.get(f"{running.url}/v2/", timeout=10).status_code == 401

    assert environment[GRANIAN_ALLOCATOR_VARIABLE] == GRANIAN_ALLOCATOR_OPTIONS
    # jemalloc names each option it cannot use on stderr, which is the log.
    assert "<jemalloc>" not in running.log_path.read_text(errors="replace")


def test_operator_options_are_kept(tmp_path: Path) -> None:
    options = "dirty_decay_ms:10000"
    extra_env = {"SEAWALL_WORKERS": "1", GRANIAN_ALLOCATOR_VARIABLE: options}
    with own_registry(tmp_path, extra_env=extra_env) as running:
        environment = worker_environment(running)
        assert httpx.get(f"{running.url}/v2/", timeout=10).status_code == 401

    assert environment[GRANIAN_ALLOCATOR_VARIABLE] == options
    assert "<jemalloc>" not in running.log_path.read_text(errors="replace")
