"""Time Seawall's built-in scanner and what its vulnerability gate costs manifest GET.

Starts Seawall as `run.py` does and imports the test kit's OSV advisories
with `seawall vulndb import`. Then skopeo pushes the kit's images and one
image built from this machine's installed Debian and Python packages, the
Harbor API scans them, and wrk loads manifest GET in a project with and
without the gate. The script rewrites the scanning results section of the
benchmark page. See docs/benchmarks.md for the method.

    python benchmarks/scanning.py [--duration S] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import machine
import oci_client
import proctree
import registries
import run
import scan_image
import scan_report
import wrk
from oci_client import RegistryClient
from scan_report import (
    GateResult,
    GateRun,
    ImageScans,
    ImportResult,
    Results,
    Scan,
    ZipImport,
)

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPOSITORY_ROOT / "docs" / "benchmarks.md"
MB = 1_000_000

# The tracker-format zip contains Debian's own source data, not OSV records.
EXCLUDED_ZIPS = frozenset({"debian-tracker-dsa.zip"})
# Layout folder and tag of each kit image, scanned in this order.
KIT_IMAGES = (
    ("clean", "1.0"),
    ("python-app", "1.0"),
    ("node-app", "1.0"),
    ("java-app", "1.0"),
    ("multiarch", "1"),
)
SCAN_PROJECT = "scanning"
GATE_OFF_PROJECT = "gate-off"
GATE_ON_PROJECT = "gate-on"
GATE_REPOSITORY = "app"
GATE_TAG = "1.0"
# While the runs of one project differ by more than `scan_report.NOISY_SPREAD`,
# another round runs, up to this many times.
MAX_EXTRA_GATE_ROUNDS = 4
# The client checks the scan state every 10 ms at first and later every 5%
# of the elapsed time, up to 250 ms. So it adds little load to a long scan,
# and each client time is at most about 10 ms or 5% too long.
MIN_POLL_SECONDS = 0.01
MAX_POLL_SECONDS = 0.25
POLL_SHARE = 0.05
SCAN_TIMEOUT_SECONDS = 900.0
ACTIVE_SCAN_STATES = frozenset({"Pending", "Running"})

logger = logging.getLogger("scanning")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=int,
        default=15,
        help="seconds of each wrk run on manifest GET (default: 15, as run.py)",
    )
    parser.add_argument(
        "--rescans",
        type=int,
        default=3,
        help="timed rescans of each image after its first scan; the table shows "
        "the median (default: 3)",
    )
    parser.add_argument(
        "--gate-rounds",
        type=int,
        default=2,
        help="rounds of wrk on the project without and with the gate, taking turns; "
        "the table shows the median (default: 2)",
    )
    parser.add_argument(
        "--testdata",
        type=Path,
        default=None,
        help="test kit folder with images/ and osv/ (default: $SEAWALL_TESTDATA, "
        "else ../shared/testdata next to the repository)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown page whose scanning results section is rewritten "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="folder for the built image and the registry data (default: system temp)",
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rescans < 1 or args.gate_rounds < 1:
        parser.error("--duration, --rescans and --gate-rounds must be at least 1")
    return args


def testdata_dir(option: Path | None) -> Path:
    if option is not None:
        return option.resolve()
    configured = os.environ.get("SEAWALL_TESTDATA")
    if configured:
        return Path(configured).resolve()
    return (REPOSITORY_ROOT.parent / "shared" / "testdata").resolve()


# Advisory import


def import_advisories(registry: registries.Registry, zips: list[Path]) -> ImportResult:
    """Run `seawall vulndb import` on the running server's database and time it."""
    env = {**os.environ, "SEAWALL_DATA_DIR": str(registry.data_dir)}
    command = [sys.executable, "-m", "seawall", "vulndb", "import", "--json"]
    started = time.perf_counter()
    completed = subprocess.run(
        [*command, *map(str, zips)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(
            f"seawall vulndb import failed with code {completed.returncode}:\n"
            f"{completed.stderr[-4000:]}"
        )
    imported = [
        ZipImport(
            Path(item["source"]).name,
            item["records"],
            item["withdrawn"],
            item["skipped"],
        )
        for item in json.loads(completed.stdout)
    ]
    return ImportResult(seconds, imported)


# Registry operations


def skopeo_push(layout: Path, tag: str, destination: str, password: str) -> float:
    """Copy `layout:tag` with every platform to `destination` and return the seconds."""
    binary = shutil.which("skopeo")
    if binary is None:
        raise RuntimeError("skopeo is not installed: apt-get install skopeo")
    command = [
        binary,
        "--insecure-policy",
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"{run.USER}:{password}",
        f"oci:{layout}:{tag}",
        f"docker://{destination}",
    ]
    started = time.perf_counter()
    completed = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=900
    )
    if completed.returncode != 0:
        raise RuntimeError(f"skopeo copy to {destination} failed: {completed.stderr}")
    return time.perf_counter() - started


class HarborApi:
    """The few Harbor API calls the benchmark needs, as the admin user."""

    def __init__(self, registry: registries.Registry, password: str) -> None:
        self.client = httpx.Client(
            base_url=f"http://{registry.host}/api/v2.0",
            auth=(run.USER, password),
            timeout=60,
        )

    def close(self) -> None:
        self.client.close()

    def create_project(self, name: str, metadata: dict[str, str]) -> None:
        body = {"project_name": name, "metadata": metadata}
        response = self.client.post("/projects", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"creating project {name} failed: {response.text}")

    def _overview(self, path: str) -> dict[str, Any] | None:
        response = self.client.get(path, params={"with_scan_overview": "true"})
        response.raise_for_status()
        overviews = response.json().get("scan_overview") or {}
        return next(iter(overviews.values()), None)

    def _wait_for_report(
        self, path: str, previous_id: str | None, started: float
    ) -> dict[str, Any]:
        """Poll the artifact until a report other than `previous_id` is finished."""
        while True:
            overview = self._overview(path)
            if (
                overview is not None
                and overview["report_id"] != previous_id
                and overview["scan_status"] not in ACTIVE_SCAN_STATES
            ):
                return overview
            elapsed = time.perf_counter() - started
            if elapsed > SCAN_TIMEOUT_SECONDS:
                raise RuntimeError(
                    f"scan of {path} timed out after {SCAN_TIMEOUT_SECONDS:.0f} s"
                )
            time.sleep(
                min(max(elapsed * POLL_SHARE, MIN_POLL_SECONDS), MAX_POLL_SECONDS)
            )

    def scan(self, project: str, repository: str, reference: str) -> Scan:
        """Request a scan, wait until its report is Success and time it."""
        path = f"/projects/{project}/repositories/{repository}/artifacts/{reference}"
        previous = self._overview(path)
        previous_id = previous["report_id"] if previous else None

        started = time.perf_counter()
        response = self.client.post(f"{path}/scan")
        if response.status_code != 202:
            raise RuntimeError(f"scan of {path} was not accepted: {response.text}")
        overview = self._wait_for_report(path, previous_id, started)
        seconds = time.perf_counter() - started

        if overview["scan_status"] != "Success":
            raise RuntimeError(
                f"scan of {path} failed with status {overview['scan_status']}; "
                "the server log has the reason"
            )
        start = datetime.datetime.fromisoformat(overview["start_time"])
        end = datetime.datetime.fromisoformat(overview["end_time"])
        return Scan(
            seconds,
            (end - start).total_seconds(),
            overview["summary"]["total"],
            overview["severity"],
        )


def scan_repeatedly(
    api: HarborApi, project: str, repository: str, reference: str, rescans: int
) -> tuple[Scan, list[Scan]]:
    first = api.scan(project, repository, reference)
    logger.info(
        "%s/%s: first scan %.2f s, %d findings",
        project,
        repository,
        first.seconds,
        first.findings,
    )
    repeated = [api.scan(project, repository, reference) for _ in range(rescans)]
    logger.info(
        "%s/%s: rescans %s s",
        project,
        repository,
        ", ".join(f"{scan.seconds:.2f}" for scan in repeated),
    )
    return first, repeated


# Measurements


def scan_kit_images(
    registry: registries.Registry,
    api: HarborApi,
    password: str,
    images_dir: Path,
    rescans: int,
) -> list[ImageScans]:
    api.create_project(SCAN_PROJECT, {})
    results = []
    for name, tag in KIT_IMAGES:
        layout = images_dir / name
        skopeo_push(
            layout, tag, f"{registry.host}/{SCAN_PROJECT}/{name}:{tag}", password
        )
        packages = scan_image.count_packages(layout, tag)
        first, repeated = scan_repeatedly(api, SCAN_PROJECT, name, tag, rescans)
        results.append(ImageScans(name, packages, first, repeated))
    return results


def scan_large_image(
    registry: registries.Registry,
    api: HarborApi,
    password: str,
    image: scan_image.BuiltImage,
    rescans: int,
) -> scan_report.LargeImageResult:
    """Push and first-scan each variant of the large image, then rescan the first.

    The memory sampler covers every first scan, and the in-process reads of
    the layer run after them, one per variant.
    """
    name = "debian-packages"
    logger.info("pushing %s (%.0f MB compressed)", name, image.compressed_bytes / MB)
    pushes = [
        skopeo_push(
            image.layout, tag, f"{registry.host}/{SCAN_PROJECT}/{name}:{tag}", password
        )
        for tag in image.tags
    ]
    pid = registry.process.pid
    idle_rss = proctree.tree_memory(pid).rss
    first_scans = []
    server_cpu = []
    with proctree.MemorySampler(pid) as sampler:
        for tag in image.tags:
            cpu_before = proctree.tree_cpu_seconds(pid)
            first_scans.append(api.scan(SCAN_PROJECT, name, tag))
            server_cpu.append(proctree.tree_cpu_seconds(pid) - cpu_before)
            logger.info(
                "%s:%s: first scan %.2f s, server CPU %.2f s, %d findings",
                name,
                tag,
                first_scans[-1].seconds,
                server_cpu[-1],
                first_scans[-1].findings,
            )
    logger.info("%s: server peak RSS %.0f MB", name, sampler.peak_rss / MB)
    repeated = [api.scan(SCAN_PROJECT, name, image.tags[0]) for _ in range(rescans)]
    reads = [scan_image.time_read_inventory(image.layout, tag) for tag in image.tags]
    logger.info(
        "%s: read_inventory in-process %s s",
        name,
        ", ".join(f"{read.seconds:.2f}" for read in reads),
    )
    return scan_report.LargeImageResult(
        image=image,
        first_push_seconds=pushes[0],
        packages=reads[0].packages,
        first_scans=first_scans,
        first_scan_server_cpu=server_cpu,
        rescans=repeated,
        reads=reads,
        idle_rss=idle_rss,
        scan_peak_rss=sampler.peak_rss,
        scan_peak_pss=sampler.peak_pss,
    )


def prepare_gate(
    registry: registries.Registry, api: HarborApi, password: str, images_dir: Path
) -> int:
    """Push the clean image to both projects and scan it in the gated one.

    Returns 412, the status of a GET of the scanned python-app image in the
    gated project, and raises when the gate lets that GET through.
    """
    api.create_project(GATE_OFF_PROJECT, {})
    api.create_project(GATE_ON_PROJECT, {"prevent_vul": "true", "severity": "critical"})
    for project in (GATE_OFF_PROJECT, GATE_ON_PROJECT):
        destination = f"{registry.host}/{project}/{GATE_REPOSITORY}:{GATE_TAG}"
        skopeo_push(images_dir / "clean", "1.0", destination, password)
    api.scan(GATE_ON_PROJECT, GATE_REPOSITORY, GATE_TAG)

    vulnerable = f"{registry.host}/{GATE_ON_PROJECT}/vulnerable:1.0"
    skopeo_push(images_dir / "python-app", "1.0", vulnerable, password)
    api.scan(GATE_ON_PROJECT, "vulnerable", "1.0")
    client = RegistryClient(
        "127.0.0.1", registry.port, run.USER, password, f"{GATE_ON_PROJECT}/vulnerable"
    )
    try:
        client.get_manifest("1.0")
    except oci_client.RegistryError as error:
        if " returned 412," not in str(error):
            raise
        return 412
    finally:
        client.close()
    raise RuntimeError(
        f"the gate in project {GATE_ON_PROJECT} let a GET of the scanned python-app "
        "image through, so it is not on and its cost cannot be measured"
    )


def load_manifest_get(
    registry: registries.Registry, password: str, project: str, duration: int
) -> GateRun:
    """Warm up and run wrk on `GET` by tag with Basic auth, as run.py's Basic row."""
    repository = f"{project}/{GATE_REPOSITORY}"
    client = RegistryClient("127.0.0.1", registry.port, run.USER, password, repository)
    for _ in range(run.MANIFEST_WARMUP_REQUESTS):
        client.get_manifest(GATE_TAG)
    client.close()
    url = f"http://{registry.host}/v2/{repository}/manifests/{GATE_TAG}"
    headers = {
        "Authorization": client.authorization,
        "Accept": oci_client.MANIFEST_ACCEPT,
    }
    pid = registry.process.pid
    cpu_before = proctree.tree_cpu_seconds(pid)
    result = wrk.run(url, headers, run.WRK_THREADS, run.WRK_CONNECTIONS, duration)
    gate_run = GateRun(result, proctree.tree_cpu_seconds(pid) - cpu_before)
    logger.info(
        "%s: %.0f requests/s, p99 %.1f ms, server CPU %.0f µs per request",
        project,
        result.requests_per_second,
        result.latency_ms[99],
        gate_run.cpu_microseconds_per_request,
    )
    if not result.valid:
        raise RuntimeError(f"{project}: wrk saw failed requests:\n{result.report}")
    return gate_run


def _gate_round(
    registry: registries.Registry,
    password: str,
    duration: int,
    result: GateResult,
    off_first: bool,
) -> None:
    order = [GATE_OFF_PROJECT, GATE_ON_PROJECT]
    for project in order if off_first else order[::-1]:
        runs = result.off if project == GATE_OFF_PROJECT else result.on
        runs.append(load_manifest_get(registry, password, project, duration))


def measure_gate(
    registry: registries.Registry, password: str, duration: int, rounds: int
) -> GateResult:
    """Load both projects in turns, adding rounds while one project's runs disagree.

    The order flips each round, so neither project always runs right after
    the other.
    """
    result = GateResult()
    for index in range(rounds):
        _gate_round(registry, password, duration, result, index % 2 == 0)
    while result.noisy() and result.extra_rounds < MAX_EXTRA_GATE_ROUNDS:
        logger.warning(
            "runs of one project differ by more than %.0f%%: running one more round",
            scan_report.NOISY_SPREAD * 100,
        )
        off_first = (rounds + result.extra_rounds) % 2 == 0
        _gate_round(registry, password, duration, result, off_first)
        result.extra_rounds += 1
    return result


# Orchestration


@contextmanager
def running_seawall(work_dir: Path, password: str) -> Iterator[registries.Registry]:
    with registries.start_seawall(work_dir, password, run.SEAWALL_SETTINGS) as seawall:
        try:
            yield seawall
        except Exception:
            run.print_log_tails([seawall])
            raise


def run_benchmark(args: argparse.Namespace, work_dir: Path, results: Results) -> None:
    testdata = testdata_dir(args.testdata)
    zips = sorted(
        path
        for path in (testdata / "osv").glob("*.zip")
        if path.name not in EXCLUDED_ZIPS
    )
    if not zips:
        raise SystemExit(
            f"no advisory zips in {testdata / 'osv'}: set SEAWALL_TESTDATA"
        )
    image = scan_image.build_image(work_dir / "debian-packages")
    password = f"Bench-{secrets.token_hex(8)}"
    with running_seawall(work_dir, password) as seawall:
        api = HarborApi(seawall, password)
        try:
            results.advisories = import_advisories(seawall, zips)
            logger.info(
                "imported %d records in %.2f s",
                results.advisories.records,
                results.advisories.seconds,
            )
            images_dir = testdata / "images"
            results.kit = scan_kit_images(
                seawall, api, password, images_dir, args.rescans
            )
            results.large = scan_large_image(
                seawall, api, password, image, args.rescans
            )
            rejected_status = prepare_gate(seawall, api, password, images_dir)
            results.gate = measure_gate(
                seawall, password, args.duration, args.gate_rounds
            )
            results.gate.rejected_status = rejected_status
        finally:
            api.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )
    # httpx logs every request at INFO, and the scan polls send hundreds.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = Results(date=date, load_before=os.getloadavg()[0])
    if results.load_before > run.IDLE_LOAD_AVERAGE:
        logger.warning(
            "1-minute load average is %.2f: the results will be noisy",
            results.load_before,
        )
    started = time.monotonic()
    other_work = machine.OtherWorkMeter()
    with tempfile.TemporaryDirectory(prefix="seawall-scan-", dir=args.work_dir) as tmp:
        run_benchmark(args, Path(tmp), results)
    # The server and every client process have exited and been waited for.
    results.other_cpu_share = other_work.share()
    results.seconds = time.monotonic() - started

    section = scan_report.results_section(results, _versions(), _settings(args))
    scan_report.write_results(args.output, section)
    print(section)
    logger.info("results written to %s", args.output)
    return 0


def _versions() -> dict[str, str]:
    skopeo = subprocess.run(
        ["skopeo", "--version"], capture_output=True, text=True, check=False
    )
    return {
        "Seawall": run.collect_versions()["Seawall"],
        "wrk": wrk.version().removeprefix("wrk ").strip(),
        "skopeo": skopeo.stdout.strip().removeprefix("skopeo version "),
    }


def _settings(args: argparse.Namespace) -> dict[str, str]:
    return {
        "wrk": f"{run.WRK_THREADS} threads, {run.WRK_CONNECTIONS} connections, "
        f"{args.duration} s, HTTP Basic",
        "rescans": f"{args.rescans} per image, table shows the median",
        "gate rounds": f"{args.gate_rounds} or more, taking turns",
        "Seawall": "defaults except SEAWALL_CREDENTIAL_CACHE_SECONDS=3600, as run.py",
    }


if __name__ == "__main__":
    sys.exit(main())
