"""Benchmark Seawall against CNCF distribution 2.8 on this machine.

Starts both registries on loopback ports with data in a temporary folder,
times blob pushes and pulls, loads manifest GET with wrk, samples the
servers' memory, prints one comparison table and rewrites the results
section of the benchmark page. See docs/benchmarks.md for the method.

    python benchmarks/run.py [--size-mib N] [--duration S] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import logging
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import machine
import oci_client
import proctree
import registries
import report
import wrk
from oci_client import Blob, BlobSource, RegistryClient

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPOSITORY_ROOT / "docs" / "benchmarks.md"
USER = "admin"
REPOSITORY = "library/benchmark"
TAG = "latest"
REFERENCE_LABEL = "distribution 2.8"
WRITEBACK_LABEL = "Seawall, writeback"
NO_AUTH_LABEL = "distribution 2.8, no auth"
WRK_THREADS = 4
WRK_CONNECTIONS = 64
MANIFEST_WARMUP_REQUESTS = 50
# Seawall checks a password again once its credential cache entry expires
# (after 60 s by default), and that argon2id check briefly takes tens of MB
# (64 MiB with the default parameters of argon2-cffi). A cache entry that
# outlives the run puts the one password check at the first request, where it
# is measured on its own, and keeps it out of the timed transfers.
SEAWALL_SETTINGS = {"SEAWALL_CREDENTIAL_CACHE_SECONDS": "3600"}
# A second Seawall writes uploads through the page cache, to show the other
# side of that choice in the same run.
WRITEBACK_SETTINGS = {**SEAWALL_SETTINGS, "SEAWALL_UPLOAD_WRITE_MODE": "writeback"}
# Above this 1-minute load average before the run, other work competes for the
# CPU and the log shows a warning.
IDLE_LOAD_AVERAGE = 1.0
# Below this rate of taking fresh memory pages into use, the log shows a
# warning. A 2-core virtual machine that backs guest memory lazily took fresh
# pages at about 360 MB/s until it had used its memory once, and at 1,400 to
# 1,900 MB/s after that.
FIRST_TOUCH_WARNING_MB_S = 600.0
# Some virtual machines hand free guest memory back to the host about 2 s
# after it is freed. The uncached pull waits longer than that after the
# eviction.
EVICTION_SETTLE_SECONDS = 4.0
# distribution, Seawall and Seawall in writeback mode.
REGISTRIES_WITH_BLOBS = 3
LOG_TAIL_LINES = 15
LOG_LINE_CHARACTERS = 300

logger = logging.getLogger("benchmark")


@dataclass
class Target:
    """A running registry, a client for it and the results gathered so far."""

    registry: registries.Registry
    client: RegistryClient
    results: report.RegistryResults
    single_post: bool = False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])

    parser.add_argument(
        "--size-mib",
        type=int,
        default=1024,
        help="size of each timed blob in MiB; the memory check also pushes a quarter "
        "of it (default: 1024)",
    )

    parser.add_argument(
        "--duration",
        type=int,
        default=15,
        help="seconds of wrk load per registry for manifest GET (default: 15)",
    )

    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs of each blob transfer per registry; the table shows the median "
        "(default: 3)",
    )

    parser.add_argument(
        "--chunk-mib",
        type=int,
        default=10,
        help="PATCH size of the chunked push in MiB (default: 10)",
    )

    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown page whose results section is rewritten (default: %(default)s)",
    )

    parser.add_argument(
        "--prefault-gib",
        type=int,
        default=0,
        help="before the run, write once to this many GiB of fresh memory, so a virtual "
        "machine that backs guest memory lazily does not slow the servers' first use of "
        "page cache; capped to leave 2 GiB available (default: 0)",
    )

    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="folder for the temporary blob file and registry data (default: system temp)",
    )
    args = parser.parse_args(argv)
    if args.size_mib < 4:
        parser.error("--size-mib must be at least 4")
    if args.prefault_gib < 0:
        parser.error("--prefault-gib must not be negative")
    if args.duration < 1 or args.repeat < 1 or args.chunk_mib < 1:
        parser.error("--duration, --repeat and --chunk-mib must be at least 1")
    return args


# Measurements


def _client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    target: Target,
    operation: str,
    size: int,
    action: Callable[[], object],
    blob_path: Path | None = None,
) -> report.TransferRun:
    """Time `action` while sampling the server's RSS and CPU time.

    For a pull, `blob_path` is the server's file of the blob, and the share
    of it in the page cache is recorded just before the timed request.
    """
    pid = target.registry.process.pid
    # An untimed request on a new connection first, so connection setup and any
    # password check fall outside the timed and sampled window.
    target.client.reconnect()
    target.client.check_api()
    cached_before = None if blob_path is None else machine.cached_fraction(blob_path)

    started = time.monotonic()
    server_cpu = proctree.tree_cpu_seconds(pid)
    client_cpu = _client_cpu_seconds()
    with proctree.MemorySampler(pid) as sampler:
        seconds = oci_client.timed(action)

    run = report.TransferRun(
        registry=target.results.label,
        operation=operation,
        size=size,
        started=started,
        seconds=seconds,
        server_cpu_seconds=proctree.tree_cpu_seconds(pid) - server_cpu,
        client_cpu_seconds=_client_cpu_seconds() - client_cpu,
        server_peak_rss=sampler.peak_rss,
        server_peak_pss=sampler.peak_pss,
        cached_before=cached_before,
    )
    target.results.runs.append(run)

    cached = "" if cached_before is None else f", {cached_before:.0%} cached before"
    logger.info(
        "%s: %s %d MiB in %.2f s, %.0f MB/s, server CPU %.2f s, peak RSS %.0f MB%s",
        target.results.label,
        operation,
        size >> 20,
        seconds,
        run.mb_per_second,
        run.server_cpu_seconds,
        run.server_peak_rss / report.MB,
        cached,
    )
    return run


def push_monolithic(target: Target, blob: Blob) -> None:
    client = target.client
    action = client.push_single_post if target.single_post else client.push_post_put
    measure(target, "push monolithic", blob.size, lambda: action(blob))
    client.check_blob(blob.digest, blob.size)


def push_chunked(target: Target, blob: Blob, chunk_size: int) -> None:
    client = target.client
    measure(
        target, "push chunked", blob.size, lambda: client.push_chunked(blob, chunk_size)
    )
    client.check_blob(blob.digest, blob.size)


def pull(target: Target, blob: Blob) -> None:
    """Time three GETs of a blob just pushed.

    The first finds the blob in the page cache only where the server wrote
    it through the cache, and the second finds it there on every server.
    Before the third, the blob's file is dropped from the page cache, so
    every server reads it from disk into pages it takes anew.
    """
    client = target.client
    path = registries.blob_file(target.registry, blob.digest)

    def fetch() -> None:
        client.pull(blob.digest, blob.size)

    for operation in ("pull after push", "pull repeated"):
        measure(target, operation, blob.size, fetch, path)
    machine.evict_from_page_cache(path)
    # Pages freed by the eviction are still backed by the host for a moment,
    # and a read right away would reuse them. After the wait, the read fills
    # fresh pages, as a blob that left the cache long ago would.
    time.sleep(EVICTION_SETTLE_SECONDS)
    measure(target, "pull uncached", blob.size, fetch, path)


def run_transfers(
    targets: list[Target], full: BlobSource, small: BlobSource, args: argparse.Namespace
) -> None:
    """Push the small size first, so its peak RSS is not raised by a larger push before it."""
    chunk_size = args.chunk_mib << 20
    for target in targets:
        push_monolithic(target, small.blob())
        push_chunked(target, small.blob(), chunk_size)
    # Registries take turns within each repetition, and the order flips each
    # time, so neither always runs right after the other's disk writes.
    for repetition in range(args.repeat):
        for target in targets if repetition % 2 == 0 else targets[::-1]:
            blob = full.blob()
            push_monolithic(target, blob)
            push_chunked(target, full.blob(), chunk_size)
            pull(target, blob)
    # The small size once more, so memory growth with blob size can also be
    # compared between pushes that follow pulls.
    for target in targets:
        push_monolithic(target, small.blob())
        push_chunked(target, small.blob(), chunk_size)


def bearer_token(target: Target) -> str:
    """Fetch a pull token for the benchmark repository from Seawall's token service."""
    query = urllib.parse.urlencode(
        {"service": "harbor-registry", "scope": f"repository:{REPOSITORY}:pull"}
    )
    request = urllib.request.Request(
        f"http://{target.registry.host}/service/token?{query}",
        headers={"Authorization": target.client.authorization},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        token: str = json.load(response)["token"]
    return token


def load_manifest_get(
    target: Target, duration: int, authorization: str | None = None
) -> None:
    """Check the manifest, warm up and then run wrk against `GET` by tag.

    `authorization` replaces the client's Basic header, for the bearer-token
    run; its result is stored separately.
    """
    client = target.client
    client.reconnect()
    for _ in range(MANIFEST_WARMUP_REQUESTS):
        client.get_manifest(TAG)
    host = target.registry.host
    url = f"http://{host}/v2/{REPOSITORY}/manifests/{TAG}"
    headers = {
        "Authorization": authorization or client.authorization,
        "Accept": oci_client.MANIFEST_ACCEPT,
    }
    logger.info("%s: wrk on manifest GET for %d s", target.results.label, duration)
    result = wrk.run(url, headers, WRK_THREADS, WRK_CONNECTIONS, duration)
    if authorization is None:
        target.results.manifest_get = result
    else:
        target.results.manifest_get_token = result
    logger.info(
        "%s: %.0f requests/s, p99 %.1f ms, %d non-2xx, %d socket errors",
        target.results.label,
        result.requests_per_second,
        result.latency_ms[99],
        result.non_2xx,
        result.socket_errors,
    )
    if not result.valid:
        raise RuntimeError(
            f"{target.results.label}: wrk saw failed requests, so its rate is not "
            f"comparable:\n{result.report}"
        )


# Setup


def make_target(registry: registries.Registry, label: str, password: str) -> Target:
    client = RegistryClient("127.0.0.1", registry.port, USER, password, REPOSITORY)
    target = Target(registry, client, report.RegistryResults(label))
    target.results.idle_rss = proctree.tree_memory(registry.process.pid).rss
    # The image push sends the first credentials the server receives, so it
    # includes a password check with an empty credential cache.
    with proctree.MemorySampler(registry.process.pid) as sampler:
        client.push_image(TAG)
    target.results.first_login_peak_rss = sampler.peak_rss
    target.single_post = client.supports_single_post()
    target.results.monolithic_method = (
        "one POST ?digest= with the body"
        if target.single_post
        else "POST, then PUT ?digest= with the body"
    )
    return target


def required_disk_bytes(args: argparse.Namespace) -> int:
    """Estimate the disk space a run needs: the source file and every pushed blob."""
    size = args.size_mib << 20
    pushes_per_registry = 4 * (size // 4) + 2 * args.repeat * size
    return size + REGISTRIES_WITH_BLOBS * pushes_per_registry


def check_disk_space(work_dir: Path, args: argparse.Namespace) -> None:
    needed = required_disk_bytes(args)
    free = shutil.disk_usage(work_dir).free
    if free < needed * 1.1:
        raise SystemExit(
            f"{work_dir} has {free / 2**30:.1f} GiB free but the benchmark writes about "
            f"{needed / 2**30:.1f} GiB: free space, pick another --work-dir or lower "
            "--repeat or --size-mib"
        )


def prepare_blobs(work_dir: Path, size: int) -> tuple[BlobSource, BlobSource]:
    path = work_dir / "random.bin"
    logger.info("writing %d MiB of random data to %s", size >> 20, path)
    oci_client.write_random_file(path, size)
    logger.info("hashing the blob sources")
    return BlobSource(path, size), BlobSource(path, size // 4)


def _seawall_version() -> str:
    """Return the version and git commit of the `seawall` package the server imports.

    The server runs with this process's environment, so `PYTHONPATH` may
    point it at another checkout than the one this script is in.
    """
    script = "import seawall, os; print(seawall.__version__, os.path.dirname(seawall.__file__))"
    found = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        return "unknown"
    version, package_dir = found.stdout.strip().split(" ", 1)
    git = subprocess.run(
        ["git", "-C", package_dir, "describe", "--always"],
        capture_output=True,
        text=True,
        check=False,
    )
    commit = git.stdout.strip()
    if not commit:
        return f"{version} (not in a git checkout, {package_dir})"
    # Only changes to the code count: the benchmark rewrites its own results
    # page, which must not mark the next run's code as changed.
    changed = subprocess.run(
        ["git", "-C", package_dir, "status", "--porcelain", "--", "."],
        capture_output=True,
        text=True,
        check=False,
    )
    if changed.stdout.strip():
        commit += " with uncommitted changes"
    return f"{version} ({commit}, {package_dir})"


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def collect_versions() -> dict[str, str]:
    return {
        "Seawall": _seawall_version(),
        "granian": _package_version("granian"),
        "distribution": registries.distribution_version(),
        "wrk": wrk.version().removeprefix("wrk ").strip(),
    }


def settings_summary(args: argparse.Namespace) -> dict[str, str]:
    return {
        "blob size": f"{args.size_mib} MiB (memory check also at {args.size_mib // 4} MiB)",
        "repetitions": f"{args.repeat}, table shows the median",
        "chunk size": f"{args.chunk_mib} MiB",
        "wrk": f"{WRK_THREADS} threads, {WRK_CONNECTIONS} connections, {args.duration} s",
        "memory prefaulted": f"{args.prefault_gib} GiB",
    }


def notes(targets: list[Target]) -> list[str]:
    lines = [
        f"{target.results.label} monolithic push: {target.results.monolithic_method}. "
        f"RSS right after start: {target.results.idle_rss / report.MB:.0f} MB."
        for target in targets
    ]
    lines += [
        "Seawall runs with its defaults except SEAWALL_CREDENTIAL_CACHE_SECONDS=3600, so "
        "its only password check is the first authenticated request, measured on its own.",
        f"{NO_AUTH_LABEL}: the same server without the htpasswd section, loaded with "
        "manifest GET only, for context.",
        f"{WRITEBACK_LABEL}: a second Seawall with SEAWALL_UPLOAD_WRITE_MODE=writeback, "
        "which keeps new blobs in the page cache, for context.",
        "pull uncached: the blob's file is dropped from the page cache first "
        f"(posix_fadvise DONTNEED), then the client waits {EVICTION_SETTLE_SECONDS:.0f} s, "
        "so both servers read it from disk into fresh pages.",
        "Peak RSS and PSS are sums over the server's process tree, sampled every 50 ms. "
        "RSS counts a page shared by two processes twice, PSS splits it between them.",
    ]
    return lines


def check_first_touch(prefault_gib: int) -> float:
    """Prefault memory if requested, then measure and return the first-touch rate in MB/s."""
    if prefault_gib:
        logger.info("writing to %d GiB of fresh memory once", prefault_gib)
        used = machine.prefault(prefault_gib << 30)
        logger.info("prefaulted %.1f GiB", used / 2**30)
    rate = machine.first_touch_mb_per_second()
    logger.info("memory first-touch rate: %.0f MB/s", rate)
    if rate < FIRST_TOUCH_WARNING_MB_S:
        logger.warning(
            "fresh memory pages cost %.0f MB/s to take into use, so the first use of page "
            "cache slows file I/O: rerun with --prefault-gib 16",
            rate,
        )
    return rate


def print_log_tails(running: list[registries.Registry]) -> None:
    """Print the end of each server log, with long lines cut, to help find a failure."""
    for registry in running:
        tail = registry.log_path.read_text(errors="replace").splitlines()[
            -LOG_TAIL_LINES:
        ]
        print(f"--- last lines of {registry.log_path} ---", file=sys.stderr)
        for line in tail:
            print(line[:LOG_LINE_CHARACTERS], file=sys.stderr)


def run_benchmark(
    args: argparse.Namespace, work_dir: Path
) -> tuple[list[Target], Target]:
    """Run every measurement and return the targets and the no-auth reference."""
    check_disk_space(work_dir, args)
    full, small = prepare_blobs(work_dir, args.size_mib << 20)
    password = f"Bench-{secrets.token_hex(8)}"
    with ExitStack() as stack:
        seawall = stack.enter_context(
            registries.start_seawall(work_dir, password, SEAWALL_SETTINGS)
        )
        writeback = stack.enter_context(
            registries.start_seawall(
                work_dir, password, WRITEBACK_SETTINGS, name="seawall-writeback"
            )
        )
        reference = stack.enter_context(
            registries.start_distribution(work_dir, USER, password)
        )
        try:
            targets = [
                make_target(reference, REFERENCE_LABEL, password),
                make_target(seawall, "Seawall", password),
                make_target(writeback, WRITEBACK_LABEL, password),
            ]
            run_transfers(targets, full, small, args)
            for target in targets[:2]:
                load_manifest_get(target, args.duration)
            seawall_target = targets[1]
            token = bearer_token(seawall_target)
            load_manifest_get(seawall_target, args.duration, f"Bearer {token}")
        except Exception:
            print_log_tails([seawall, writeback, reference])
            raise
    no_auth = run_no_auth_reference(work_dir, args.duration)
    return targets, no_auth


def run_no_auth_reference(work_dir: Path, duration: int) -> Target:
    """Load manifest GET on distribution without auth, which checks no bcrypt hash."""
    password = f"Bench-{secrets.token_hex(8)}"
    with registries.start_distribution(
        work_dir, USER, password, name="distribution-no-auth", auth=False
    ) as registry:
        target = make_target(registry, NO_AUTH_LABEL, password)
        load_manifest_get(target, duration)
    return target


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()[0]
    if load_before > IDLE_LOAD_AVERAGE:
        logger.warning(
            "1-minute load average is %.2f: other processes are using the CPU, "
            "so the results will be noisy",
            load_before,
        )
    first_touch = check_first_touch(args.prefault_gib)
    other_work = machine.OtherWorkMeter()
    with tempfile.TemporaryDirectory(prefix="seawall-bench-", dir=args.work_dir) as tmp:
        targets, no_auth = run_benchmark(args, Path(tmp))
    # Every server and wrk process has exited and been waited for by now.
    other_share = other_work.share()
    if other_share > report.NOISY_CPU_SHARE:
        logger.warning(
            "other processes used %.0f%% of the machine's CPU during the run, "
            "so the results are noisy: rerun on an idle machine",
            other_share * 100,
        )

    reference, seawall, writeback = (target.results for target in targets)
    size = args.size_mib << 20
    rows = report.build_rows(seawall, reference, size, size // 4, writeback)
    comparison = report.comparison_table(rows, REFERENCE_LABEL)
    environment = report.read_environment(
        collect_versions(),
        settings_summary(args),
        date,
        load_before,
        other_share,
        first_touch,
    )
    all_results = [reference, seawall, writeback, no_auth.results]
    section = report.results_section(
        environment, comparison, notes(targets), all_results
    )
    report.write_results(args.output, section)

    print(comparison)
    print()
    print(report.manifest_table(all_results))
    logger.info("results written to %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
