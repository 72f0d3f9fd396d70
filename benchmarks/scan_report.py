"""Results of the scanning benchmark and the Markdown section that shows them.

Units: MB is 10^6 bytes and times are wall-clock seconds. Client times are
measured by the benchmark, and server times come from the start and end
times that Seawall stores in each scan report.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import scan_image
from report import MB, Environment, read_environment
from wrk import WrkResult

RESULTS_START = "<!-- scanning results: start (written by benchmarks/scanning.py) -->"
RESULTS_END = "<!-- scanning results: end -->"
# The gate may cost manifest GET at most this share of its requests/s.
GATE_TARGET_DROP = 0.10
# Two runs of one project whose requests/s differ by more than this share
# of the larger are taken as noisy.
NOISY_SPREAD = 0.15
# Above this share of the machine's CPU time used by other processes during
# the run, the section adds a line that the machine was busy.
BUSY_CPU_SHARE = 0.05
COMMAND = ".venv/bin/python benchmarks/scanning.py"


@dataclass(frozen=True)
class ZipImport:
    name: str
    records: int
    withdrawn: int
    skipped: int


@dataclass(frozen=True)
class ImportResult:
    """One `seawall vulndb import` of every zip, timed as a whole command."""

    seconds: float
    zips: list[ZipImport]

    @property
    def records(self) -> int:
        return sum(item.records for item in self.zips)


@dataclass(frozen=True)
class Scan:
    """One scan through the API."""

    seconds: float  # from the scan POST until the client sees the report in Success
    server_seconds: float  # report end time minus the time a scan worker started it
    findings: int
    severity: str


@dataclass
class ImageScans:
    label: str
    packages: int  # found by `read_inventory`, summed over an index's images
    first: Scan
    rescans: list[Scan] = field(default_factory=list)

    @property
    def rescan_seconds(self) -> float:
        return statistics.median(scan.seconds for scan in self.rescans)

    @property
    def rescan_server_seconds(self) -> float:
        return statistics.median(scan.server_seconds for scan in self.rescans)


@dataclass(frozen=True)
class LargeImageResult:
    image: scan_image.BuiltImage
    first_push_seconds: float  # the push that uploads the layer
    packages: int  # found by `read_inventory`
    first_scans: list[Scan]  # one per variant, each reading the layer
    first_scan_server_cpu: list[float]  # server process tree, seconds per first scan
    rescans: list[Scan]  # of the first variant
    reads: list[scan_image.InventoryRead]  # one in-process read per variant
    idle_rss: int  # server process tree right before the first scan
    scan_peak_rss: int  # during the first scans
    scan_peak_pss: int


@dataclass(frozen=True)
class GateRun:
    """One wrk run on manifest GET and the server's CPU time during it."""

    wrk: WrkResult
    server_cpu_seconds: float  # user plus system time of the server's process tree

    @property
    def cpu_microseconds_per_request(self) -> float:
        return self.server_cpu_seconds / self.wrk.requests * 1e6


@dataclass
class GateResult:
    """wrk runs on manifest GET per project, in the order they ran."""

    off: list[GateRun] = field(default_factory=list)
    on: list[GateRun] = field(default_factory=list)
    # Status of a GET of a scanned vulnerable image in the gated project,
    # which shows that the gate was on.
    rejected_status: int = 0
    # Rounds added because the runs of one project differed by more than
    # `NOISY_SPREAD`.
    extra_rounds: int = 0

    @staticmethod
    def median_rate(runs: list[GateRun]) -> float:
        return statistics.median(run.wrk.requests_per_second for run in runs)

    @staticmethod
    def median_p99(runs: list[GateRun]) -> float:
        return statistics.median(run.wrk.latency_ms[99] for run in runs)

    @staticmethod
    def median_cpu(runs: list[GateRun]) -> float:
        """Return the median server CPU time per request, in microseconds."""
        return statistics.median(run.cpu_microseconds_per_request for run in runs)

    @property
    def drop(self) -> float:
        return 1 - self.median_rate(self.on) / self.median_rate(self.off)

    @property
    def cpu_increase(self) -> float:
        return self.median_cpu(self.on) / self.median_cpu(self.off) - 1

    def noisy(self) -> bool:
        for runs in (self.off, self.on):
            rates = [run.wrk.requests_per_second for run in runs]
            if (max(rates) - min(rates)) / max(rates) > NOISY_SPREAD:
                return True
        return False


@dataclass
class Results:
    date: str
    load_before: float
    advisories: ImportResult | None = None
    kit: list[ImageScans] = field(default_factory=list)
    large: LargeImageResult | None = None
    gate: GateResult | None = None
    other_cpu_share: float = 0.0
    seconds: float = 0.0


# Markdown


def _table(header: list[str], lines: list[list[str]]) -> str:
    rows = [header, ["---"] * len(header), *lines]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _mb(size: int) -> str:
    return f"{size / MB:,.0f}"


def import_table(result: ImportResult) -> str:
    lines = [
        [
            f"`{item.name}`",
            f"{item.records:,}",
            f"{item.withdrawn:,}",
            f"{item.skipped:,}",
        ]
        for item in result.zips
    ]
    lines.append(
        [
            f"all {len(result.zips)}, one command: **{result.seconds:.2f} s**",
            f"{result.records:,}",
            f"{sum(item.withdrawn for item in result.zips):,}",
            f"{sum(item.skipped for item in result.zips):,}",
        ]
    )
    return _table(["zip", "records", "withdrawn", "skipped"], lines)


def _times(client: float, server: float) -> str:
    return f"{client:.2f} / {server:.2f}"


def scan_table(images: list[ImageScans]) -> str:
    lines = [
        [
            image.label,
            f"{image.packages:,}",
            f"{image.first.findings:,}",
            image.first.severity,
            _times(image.first.seconds, image.first.server_seconds),
            _times(image.rescan_seconds, image.rescan_server_seconds),
            ", ".join(f"{scan.seconds:.2f}" for scan in image.rescans),
        ]
        for image in images
    ]
    header = [
        "image",
        "packages",
        "findings",
        "highest severity",
        "first scan s, client / server",
        "rescan s, median, client / server",
        "every rescan s, client",
    ]
    return _table(header, lines)


def _median_times(scans: list[Scan]) -> str:
    return _times(
        statistics.median(scan.seconds for scan in scans),
        statistics.median(scan.server_seconds for scan in scans),
    )


def _each(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def large_image_table(result: LargeImageResult) -> str:
    image = result.image
    first = result.first_scans[0]
    sizes = f"{_mb(image.uncompressed_bytes)} / {_mb(image.compressed_bytes)}"
    peaks = f"{_mb(result.scan_peak_rss)} / {_mb(result.scan_peak_pss)}"
    lines = [
        ["layer size, uncompressed / gzip, MB", sizes],
        ["files, folders and links in the layer", f"{image.entries:,}"],
        ["packages in the dpkg status file", f"{image.dpkg_packages:,}"],
        ["packages found (`read_inventory`)", f"{result.packages:,}"],
        ["findings, highest severity", f"{first.findings:,}, {first.severity}"],
        ["push with skopeo, s", f"{result.first_push_seconds:.2f}"],
        [
            f"first scan (read the layer, match), s, median of {len(result.first_scans)}, "
            "client / server",
            f"**{_median_times(result.first_scans)}**",
        ],
        [
            "every first scan s, client",
            _each([scan.seconds for scan in result.first_scans]),
        ],
        [
            f"rescan (stored inventory, match), s, median of {len(result.rescans)}, "
            "client / server",
            _median_times(result.rescans),
        ],
        [
            "server CPU time during each first scan, s",
            _each(result.first_scan_server_cpu),
        ],
        [
            f"`read_inventory` alone in the benchmark process, s, median of "
            f"{len(result.reads)}",
            f"{statistics.median(read.seconds for read in result.reads):.2f}",
        ],
        ["every `read_inventory` s", _each([read.seconds for read in result.reads])],
        [
            "CPU time of each `read_inventory`, s",
            _each([read.cpu_seconds for read in result.reads]),
        ],
        ["server RSS before the first scan, MB", _mb(result.idle_rss)],
        ["server peak RSS / PSS during the first scans, MB", peaks],
    ]
    return _table(["metric", "value"], lines)


def gate_table(result: GateResult) -> str:
    def row(label: str, runs: list[GateRun]) -> list[str]:
        return [
            label,
            ", ".join(f"{run.wrk.requests_per_second:,.0f}" for run in runs),
            f"**{GateResult.median_rate(runs):,.0f}**",
            f"{GateResult.median_p99(runs):.1f}",
            ", ".join(f"{run.cpu_microseconds_per_request:,.0f}" for run in runs),
            f"**{GateResult.median_cpu(runs):,.0f}**",
        ]

    lines = [
        row("without the gate", result.off),
        row(
            "with the gate (`prevent_vul`, severity critical), clean image passes",
            result.on,
        ),
    ]
    header = [
        "project",
        "requests/s of each run",
        "requests/s, median",
        "p99 ms, median",
        "server CPU µs per request, each run",
        "server CPU µs per request, median",
    ]
    return _table(header, lines)


def gate_summary(result: GateResult) -> str:
    met = "met" if result.drop < GATE_TARGET_DROP else "**not met**"
    summary = (
        f"Drop in requests/s with the gate: **{result.drop * 100:.1f}%** (target: below "
        f"{GATE_TARGET_DROP * 100:.0f}%, {met}). Change in server CPU time per request: "
        f"**{result.cpu_increase * 100:+.1f}%**. A GET of the scanned python-app image "
        f"in the gated project returned {result.rejected_status}."
    )
    if result.extra_rounds:
        summary += (
            f" The runs of one project differed by more than {NOISY_SPREAD * 100:.0f}%, "
            f"so {result.extra_rounds} more round(s) ran and the medians include them."
        )
    if result.noisy():
        summary += " The runs still differ by that much, so the drop is uncertain."
    return summary


def _environment_lines(environment: Environment, results: Results) -> list[str]:
    machine = (
        f"{environment.cores} cores, {environment.memory_gib:.1f} GiB memory, "
        f"{environment.cpu_model}, Linux {environment.kernel}"
    )
    versions = ", ".join(
        f"{name} {value}" for name, value in environment.versions.items()
    )
    settings = ", ".join(
        f"{name} {value}" for name, value in environment.settings.items()
    )
    lines = [
        f"- Command: `{COMMAND}` (the last step of `make bench`), {results.seconds:.0f} s in all.",
        f"- Machine: {machine}.",
        f"- Software: Python {environment.python}, {versions}.",
        f"- Settings: {settings}.",
        f"- Other work on the machine: 1-minute load average {results.load_before:.2f} "
        f"before the run, and other processes used {results.other_cpu_share * 100:.1f}% "
        "of all CPU time during it.",
    ]
    if results.other_cpu_share > BUSY_CPU_SHARE:
        lines.append(
            "- The machine was busy with other work during this run, so every figure "
            "here is lower or slower than on an idle machine and varies more between runs."
        )
    return lines


def results_section(
    results: Results, versions: dict[str, str], settings: dict[str, str]
) -> str:
    """Return the Markdown that replaces the scanning results section of the page."""
    environment = read_environment(
        versions,
        settings,
        results.date,
        results.load_before,
        results.other_cpu_share,
        0.0,
    )
    parts = [
        RESULTS_START,
        "",
        f"### Scanning results of {results.date}",
        "",
        *_environment_lines(environment, results),
    ]
    if results.advisories is not None:
        parts += [
            "",
            "#### Advisory import into a fresh database",
            "",
            import_table(results.advisories),
        ]
    if results.kit:
        parts += [
            "",
            "#### Scans of the test kit's images",
            "",
            scan_table(results.kit),
        ]
    if results.large is not None:
        parts += [
            "",
            "#### Image built from this machine's Debian and Python packages",
            "",
            large_image_table(results.large),
        ]
    if results.gate is not None:
        parts += [
            "",
            "#### Manifest GET with and without the vulnerability gate",
            "",
            gate_table(results.gate),
            "",
            gate_summary(results.gate),
        ]
    parts += ["", RESULTS_END]
    return "\n".join(parts) + "\n"


def write_results(path: Path, section: str) -> None:
    """Replace the scanning results section of `path`, or append it at the end."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = text.find(RESULTS_START)
    end = text.find(RESULTS_END)
    if start != -1 and end > start:
        text = text[:start] + section + text[end + len(RESULTS_END) :].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
