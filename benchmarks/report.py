"""Turn benchmark measurements into the comparison table and the results page.

Units: MB is 10^6 bytes, so throughput is MB/s and RSS is MB, while blob
sizes are given in MiB (2^20 bytes).
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wrk import WrkResult

OPERATIONS = (
    "push monolithic",
    "push chunked",
    "pull after push",
    "pull repeated",
    "pull uncached",
)
RESULTS_START = "<!-- benchmark results: start (written by benchmarks/run.py) -->"
RESULTS_END = "<!-- benchmark results: end -->"
MB = 1_000_000

# Targets: ratios of Seawall's figure to distribution's, then limits on
# Seawall's memory.
PUSH_TARGET = 1.5
PULL_TARGET = 1.0
MANIFEST_RPS_TARGET = 3.0
MANIFEST_P99_TARGET = 1.0
RSS_LIMIT_MB = 200.0
# Memory counts as flat when the peak RSS during a push of the full size is at
# most this fraction above the peak during a push of a quarter of that size.
RSS_GROWTH_LIMIT = 0.10
# Above this share of all CPU time used by other processes during a run, the
# results mark the run as noisy.
NOISY_CPU_SHARE = 0.05


@dataclass(frozen=True)
class TransferRun:
    """One timed blob transfer and what the server used for it."""

    registry: str
    operation: str  # one of OPERATIONS
    size: int
    started: float  # time.monotonic() at the start
    seconds: float
    server_cpu_seconds: float
    client_cpu_seconds: float
    server_peak_rss: int
    server_peak_pss: int
    # Pulls only: the share of the blob's file in the page cache just before.
    cached_before: float | None = None

    @property
    def mb_per_second(self) -> float:
        return self.size / MB / self.seconds


@dataclass
class RegistryResults:
    """All measurements of one registry in one benchmark run."""

    label: str
    monolithic_method: str = ""
    idle_rss: int = 0
    # Peak RSS during the first authenticated requests after start, which
    # include a password check with an empty credential cache.
    first_login_peak_rss: int | None = None
    runs: list[TransferRun] = field(default_factory=list)
    manifest_get: WrkResult | None = None
    # Seawall only: the same load with a bearer token from /service/token.
    manifest_get_token: WrkResult | None = None

    def rates(self, operation: str, size: int) -> list[float]:
        return [
            run.mb_per_second
            for run in self.runs
            if run.operation == operation and run.size == size
        ]

    def median_rate(self, operation: str, size: int) -> float | None:
        rates = self.rates(operation, size)
        return statistics.median(rates) if rates else None

    def peak_rss(self, size: int) -> int | None:
        """Return the highest RSS seen during any push of `size` bytes."""
        peaks = [run.server_peak_rss for run in self._pushes(size)]
        return max(peaks) if peaks else None

    def peak_rss_around_pulls(self, size: int, after: bool) -> int | None:
        """Return the highest RSS seen during pushes of `size` bytes before or after pulls.

        A pull leaves buffers and threads behind that the following pushes
        carry, so pushes of two sizes are compared on the same side of the
        first pull.
        """
        pulls = [run.started for run in self.runs if run.operation.startswith("pull")]
        first_pull = min(pulls, default=float("inf"))
        peaks = [
            run.server_peak_rss
            for run in self._pushes(size)
            if (run.started > first_pull) == after
        ]
        return max(peaks) if peaks else None

    def peak_pss(self, size: int) -> int | None:
        """Return the highest PSS seen during any push of `size` bytes."""
        peaks = [run.server_peak_pss for run in self._pushes(size)]
        return max(peaks) if peaks else None

    def _pushes(self, size: int) -> list[TransferRun]:
        return [
            run
            for run in self.runs
            if run.operation.startswith("push") and run.size == size
        ]


@dataclass(frozen=True)
class Row:
    metric: str
    seawall: str
    reference: str
    ratio: str
    target: str
    met: bool | None


@dataclass(frozen=True)
class Environment:
    """The machine and software a run measured."""

    date: str
    cpu_model: str
    cores: int
    memory_gib: float
    kernel: str
    python: str
    versions: dict[str, str]
    settings: dict[str, str]
    load_before: float  # 1-minute load average before the run
    other_cpu_share: float  # other processes' share of all CPU time during the run
    first_touch_mb_s: float  # rate of taking fresh memory pages into use


def read_environment(
    versions: dict[str, str],
    settings: dict[str, str],
    date: str,
    load_before: float,
    other_cpu_share: float,
    first_touch_mb_s: float,
) -> Environment:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
            break
    return Environment(
        date=date,
        cpu_model=cpu_model,
        cores=os.cpu_count() or 0,
        memory_gib=memory_kib / 1024 / 1024,
        kernel=platform.release(),
        python=platform.python_version(),
        versions=versions,
        settings=settings,
        load_before=load_before,
        other_cpu_share=other_cpu_share,
        first_touch_mb_s=first_touch_mb_s,
    )


# Table rows


def _format(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _ratio(seawall: float | None, reference: float | None) -> float | None:
    if seawall is None or not reference:
        return None
    return seawall / reference


def _met(ratio: float | None, passes: Callable[[float], bool]) -> bool | None:
    return None if ratio is None else passes(ratio)


def _rate_row(
    metric: str, seawall: float | None, reference: float | None, target: float | None
) -> Row:
    """Return a throughput row, checked against `target` unless it is None."""
    ratio = _ratio(seawall, reference)
    if target is None:
        return Row(
            metric,
            _format(seawall),
            _format(reference),
            f"{_format(ratio, 2)}x",
            "none, context",
            None,
        )
    return Row(
        metric,
        _format(seawall),
        _format(reference),
        f"{_format(ratio, 2)}x",
        f"≥ {target:.1f}x",
        _met(ratio, lambda value: value >= target),
    )


def _transfer_rows(
    seawall: RegistryResults,
    reference: RegistryResults,
    size: int,
    prefix: str,
    transfers: list[tuple[str, str, float | None]],
) -> list[Row]:
    """Return a median-throughput row per (metric, operation, target) in `transfers`.

    A last row adds the median monolithic push time to the median first
    pull time, for context.
    """
    rows = [
        _rate_row(
            f"{prefix}{metric}, MB/s",
            seawall.median_rate(operation, size),
            reference.median_rate(operation, size),
            target,
        )
        for metric, operation, target in transfers
    ]
    rows.append(
        _seconds_row(
            f"{prefix}push {size >> 20} MiB monolithic, then first GET, seconds "
            "(lower is better)",
            _push_then_pull_seconds(seawall, size),
            _push_then_pull_seconds(reference, size),
        )
    )
    return rows


def _push_then_pull_seconds(results: RegistryResults, size: int) -> float | None:
    """Return the median push time plus the median first-pull time for `size` bytes."""
    push = results.median_rate("push monolithic", size)
    pull = results.median_rate("pull after push", size)
    if not push or not pull:
        return None
    megabytes = size / MB
    return megabytes / push + megabytes / pull


def _seconds_row(metric: str, seawall: float | None, reference: float | None) -> Row:
    """Return a row of durations for context, with no target."""
    return Row(
        metric,
        _format(seawall, 2),
        _format(reference, 2),
        f"{_format(_ratio(seawall, reference), 2)}x",
        "none, context",
        None,
    )


def _manifest_rows(
    seawall: WrkResult | None, reference: WrkResult | None, credential: str = "Basic"
) -> list[Row]:
    seawall_rps = seawall.requests_per_second if seawall else None
    reference_rps = reference.requests_per_second if reference else None
    rps_row = _rate_row(
        f"manifest GET ({credential}), requests/s (higher is better)",
        seawall_rps,
        reference_rps,
        MANIFEST_RPS_TARGET,
    )
    seawall_p99 = seawall.latency_ms[99] if seawall else None
    reference_p99 = reference.latency_ms[99] if reference else None
    p99_ratio = _ratio(seawall_p99, reference_p99)
    p99_row = Row(
        f"manifest GET ({credential}), p99 latency ms (lower is better)",
        _format(seawall_p99, 1),
        _format(reference_p99, 1),
        f"{_format(p99_ratio, 2)}x",
        f"≤ {MANIFEST_P99_TARGET:.1f}x",
        _met(p99_ratio, lambda value: value <= MANIFEST_P99_TARGET),
    )
    return [rps_row, p99_row]


def _memory_row(
    metric: str, seawall: int | None, reference: int | None, limited: bool
) -> Row:
    """Return a row in MB, checked against `RSS_LIMIT_MB` when `limited`."""
    seawall_mb = None if seawall is None else seawall / MB
    reference_mb = None if reference is None else reference / MB
    met = None
    if limited and seawall_mb is not None:
        met = seawall_mb < RSS_LIMIT_MB
    return Row(
        f"{metric}, MB (lower is better)",
        _format(seawall_mb, 1),
        _format(reference_mb, 1),
        f"{_format(_ratio(seawall_mb, reference_mb), 2)}x",
        f"Seawall < {RSS_LIMIT_MB:.0f} MB" if limited else "none, context",
        met,
    )


def _growth_ratio(
    results: RegistryResults, size: int, small_size: int, after: bool
) -> float | None:
    return _ratio(
        results.peak_rss_around_pulls(size, after),
        results.peak_rss_around_pulls(small_size, after),
    )


def _growth(results: RegistryResults, size: int, small_size: int, after: bool) -> str:
    growth = _growth_ratio(results, size, small_size, after)
    return "n/a" if growth is None else f"{(growth - 1) * 100:+.1f}%"


def _memory_rows(
    seawall: RegistryResults, reference: RegistryResults, size: int, small_size: int
) -> list[Row]:
    rows = [
        _memory_row(
            f"server peak RSS, {push_size >> 20} MiB push",
            seawall.peak_rss(push_size),
            reference.peak_rss(push_size),
            limited=True,
        )
        for push_size in (small_size, size)
    ]
    for after, moment in ((False, "before any pull"), (True, "after pulls")):
        growth = _growth_ratio(seawall, size, small_size, after)
        rows.append(
            Row(
                f"peak RSS growth, {small_size >> 20} MiB → {size >> 20} MiB push, "
                f"{moment}",
                _growth(seawall, size, small_size, after),
                _growth(reference, size, small_size, after),
                "",
                f"Seawall ≤ +{RSS_GROWTH_LIMIT * 100:.0f}% (flat)",
                None if growth is None else growth - 1 <= RSS_GROWTH_LIMIT,
            )
        )
    rows.append(
        _memory_row(
            "server peak RSS, first password check after start",
            seawall.first_login_peak_rss,
            reference.first_login_peak_rss,
            limited=True,
        )
    )
    rows.append(
        _memory_row(
            f"server peak PSS, {size >> 20} MiB push",
            seawall.peak_pss(size),
            reference.peak_pss(size),
            limited=False,
        )
    )
    return rows


def build_rows(
    seawall: RegistryResults,
    reference: RegistryResults,
    size: int,
    small_size: int,
    writeback: RegistryResults | None = None,
) -> list[Row]:
    """Return the comparison rows: throughput, manifest load and Seawall's memory.

    Pulls are measured three ways, each with the pull target: right after
    the push (where each write path left the blob, see "Limits of the
    comparison"), cached on both servers, and cached on neither. `writeback`, when given, adds
    the figures of a Seawall that writes uploads through the page cache.
    """
    mib = size >> 20
    transfers: list[tuple[str, str, float | None]] = [
        (f"push {mib} MiB monolithic", "push monolithic", PUSH_TARGET),
        (f"push {mib} MiB chunked", "push chunked", PUSH_TARGET),
        (
            f"pull {mib} MiB, repeated GET (cached on both)",
            "pull repeated",
            PULL_TARGET,
        ),
        (
            f"pull {mib} MiB, uncached (read from disk on both)",
            "pull uncached",
            PULL_TARGET,
        ),
        (f"pull {mib} MiB, first GET after push", "pull after push", PULL_TARGET),
    ]
    rows = _transfer_rows(seawall, reference, size, "", transfers)
    if writeback is not None:
        context: list[tuple[str, str, float | None]] = [
            (f"push {mib} MiB monolithic", "push monolithic", None),
            (f"push {mib} MiB chunked", "push chunked", None),
            (f"pull {mib} MiB, first GET after push", "pull after push", None),
        ]
        rows += _transfer_rows(
            writeback, reference, size, f"{writeback.label}: ", context
        )
    rows += _manifest_rows(seawall.manifest_get, reference.manifest_get)
    if seawall.manifest_get_token is not None:
        # distribution runs without a token server, so its Basic figures are
        # the reference for Seawall's bearer-token load too.
        rows += _manifest_rows(
            seawall.manifest_get_token,
            reference.manifest_get,
            "Seawall bearer token, distribution Basic",
        )
    rows += _memory_rows(seawall, reference, size, small_size)
    return rows


# Markdown


def _markdown_table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out)


def comparison_table(rows: list[Row], reference_label: str) -> str:
    header = [
        "metric",
        "Seawall",
        reference_label,
        "ratio Seawall/ref.",
        "target",
        "met",
    ]
    met_text = {True: "yes", False: "**no**", None: "n/a"}
    lines = [
        [
            row.metric,
            row.seawall,
            row.reference,
            row.ratio,
            row.target,
            met_text[row.met],
        ]
        for row in rows
    ]
    return _markdown_table(header, lines)


def runs_table(results: list[RegistryResults]) -> str:
    """Return every blob transfer in the order it ran."""
    runs = sorted((run for registry in results for run in registry.runs), key=_started)
    if not runs:
        return "No blob transfers ran."
    first = runs[0].started
    header = [
        "start s",
        "registry",
        "operation",
        "MiB",
        "seconds",
        "MB/s",
        "server CPU s",
        "client CPU s",
        "server peak RSS MB",
        "server peak PSS MB",
        "cached before %",
    ]
    lines = [
        [
            f"{run.started - first:.0f}",
            run.registry,
            run.operation,
            str(run.size >> 20),
            f"{run.seconds:.2f}",
            f"{run.mb_per_second:,.0f}",
            f"{run.server_cpu_seconds:.2f}",
            f"{run.client_cpu_seconds:.2f}",
            f"{run.server_peak_rss / MB:,.1f}",
            f"{run.server_peak_pss / MB:,.1f}",
            "" if run.cached_before is None else f"{run.cached_before * 100:.0f}",
        ]
        for run in runs
    ]
    return _markdown_table(header, lines)


def _started(run: TransferRun) -> float:
    return run.started


def manifest_table(results: list[RegistryResults]) -> str:
    header = [
        "registry",
        "requests/s",
        "requests",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "errors",
    ]
    lines = []
    runs = []
    for registry in results:
        runs.append((registry.label, registry.manifest_get))
        if registry.manifest_get_token is not None:
            runs.append(
                (f"{registry.label}, bearer token", registry.manifest_get_token)
            )
    for label, result in runs:
        if result is None:
            continue
        lines.append(
            [
                label,
                f"{result.requests_per_second:,.0f}",
                f"{result.requests:,}",
                f"{result.latency_ms.get(50, 0):.1f}",
                f"{result.latency_ms.get(90, 0):.1f}",
                f"{result.latency_ms[99]:.1f}",
                f"{result.non_2xx} non-2xx, {result.socket_errors} socket",
            ]
        )
    return _markdown_table(header, lines)


def results_section(
    environment: Environment,
    comparison: str,
    notes: list[str],
    results: list[RegistryResults],
) -> str:
    """Return the Markdown that replaces the results section of the page."""
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
    noise = ""
    if environment.other_cpu_share > NOISY_CPU_SHARE:
        noise = ": **the run was noisy, rerun on an idle machine**"
    parts = [
        RESULTS_START,
        "",
        f"## Results of {environment.date}",
        "",
        f"- Machine: {machine}.",
        f"- Software: Python {environment.python}, {versions}.",
        f"- Settings: {settings}.",
        f"- Other work on the machine: 1-minute load average {environment.load_before:.2f} "
        "before the run, and other processes used "
        f"{environment.other_cpu_share * 100:.1f}% of all CPU time during it{noise}.",
        "- Memory first-touch rate before the run: "
        f"{environment.first_touch_mb_s:,.0f} MB/s.",
        "",
        comparison,
        "",
        *[f"- {note}" for note in notes],
        "",
        "### Every blob transfer",
        "",
        runs_table(results),
        "",
        "### Manifest GET under load",
        "",
        manifest_table(results),
        "",
        RESULTS_END,
    ]
    return "\n".join(parts) + "\n"


def write_results(path: Path, section: str) -> None:
    """Replace the results section of `path`, or create the page with only a title."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = text.find(RESULTS_START)
    end = text.find(RESULTS_END)
    if start != -1 and end > start:
        text = text[:start] + section + text[end + len(RESULTS_END) :].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
