"""Run the `wrk` HTTP load generator and parse its text report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

# Requests slower than this count as wrk timeouts and drop out of its latency
# percentiles, so it is set far above any latency a healthy server shows here.
REQUEST_TIMEOUT = "10s"

_UNIT_MILLISECONDS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE_RE = re.compile(
    r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE
)
_RPS_RE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL_RE = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX_RE = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS_RE = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)


@dataclass(frozen=True)
class WrkResult:
    """Throughput and latency of one wrk run."""

    requests_per_second: float
    requests: int
    latency_ms: dict[int, float]  # percentile (50, 75, 90, 99) to milliseconds
    non_2xx: int
    socket_errors: int
    report: str

    @property
    def valid(self) -> bool:
        """Whether every request succeeded, so the rate counts only good responses."""
        return self.non_2xx == 0 and self.socket_errors == 0


def version() -> str:
    output = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (
        output.stdout.splitlines()[0].split(" Copyright")[0]
        if output.stdout
        else "unknown"
    )


def parse_report(report: str) -> WrkResult:
    """Parse the report that `wrk --latency` prints."""
    rps = _RPS_RE.search(report)
    total = _TOTAL_RE.search(report)
    if rps is None or total is None:
        raise ValueError(f"cannot parse wrk report:\n{report}")
    latency = {
        int(match[1]): float(match[2]) * _UNIT_MILLISECONDS[match[3]]
        for match in _PERCENTILE_RE.finditer(report)
    }
    if 99 not in latency:
        raise ValueError(f"wrk report has no 99th percentile latency:\n{report}")
    non_2xx = _NON_2XX_RE.search(report)
    socket_errors = _SOCKET_ERRORS_RE.search(report)
    return WrkResult(
        requests_per_second=float(rps[1]),
        requests=int(total[1]),
        latency_ms=latency,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(count) for count in socket_errors.groups())
        if socket_errors
        else 0,
        report=report,
    )


def run(
    url: str,
    headers: dict[str, str],
    threads: int,
    connections: int,
    duration_seconds: int,
) -> WrkResult:
    """Send `GET url` with `headers` on `connections` keep-alive connections for a fixed time."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    command = [
        binary,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration_seconds}s",
        f"--timeout={REQUEST_TIMEOUT}",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    command.append(url)
    output = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        timeout=duration_seconds + 60,
    )
    return parse_report(output.stdout)
