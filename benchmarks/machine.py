"""Checks of the machine itself: CPU use by other processes and memory first-touch cost."""

from __future__ import annotations

import mmap
import os
import resource
import subprocess
import time
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = mmap.PAGESIZE
PROBE_BYTES = 256 * 1024 * 1024
PREFAULT_RESERVE_BYTES = 2 * 1024**3


def machine_busy_seconds() -> float:
    """Return the CPU time all processes used since boot, summed over CPUs, in seconds.

    Counts user, nice and system time from the first line of `/proc/stat`.
    Interrupt time is left out because the kernel may charge the loopback
    traffic of the benchmark itself there.
    """
    fields = (PROC / "stat").read_text().splitlines()[0].split()
    user, nice, system = (int(field) for field in fields[1:4])
    return (user + nice + system) / CLOCK_TICKS


def kernel_threads_cpu_seconds() -> float:
    """Return the CPU time of the live kernel threads, such as file write-back, in seconds.

    Kernel threads are pid 2 (kthreadd) and its children. They do I/O work on
    behalf of the servers, so it is not other work on the machine.
    """
    total = 0.0
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process exited while the folder was read
        # Fields after the command name, which may contain spaces: state,
        # parent id, and utime and stime at offsets 11 and 12.
        fields = stat[stat.rindex(")") + 2 :].split()
        if entry.name == "2" or fields[1] == "2":
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def own_cpu_seconds() -> float:
    """Return CPU time of this process and of every descendant it has waited for."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


class OtherWorkMeter:
    """Share of the machine's CPU time that other processes use from creation on.

    Other work is all CPU time less that of kernel threads and of this
    process and its descendants. Call `share` only after every descendant
    has exited and been waited for, because only then is its CPU time in
    this process's children's usage.
    """

    def __init__(self) -> None:
        self._busy = machine_busy_seconds()
        self._kernel = kernel_threads_cpu_seconds()
        self._own = own_cpu_seconds()
        self._started = time.monotonic()

    def share(self) -> float:
        other = (
            (machine_busy_seconds() - self._busy)
            - (kernel_threads_cpu_seconds() - self._kernel)
            - (own_cpu_seconds() - self._own)
        )
        capacity = (time.monotonic() - self._started) * (os.cpu_count() or 1)
        return max(other, 0.0) / capacity


def _touch_pages(size: int) -> tuple[mmap.mmap, float]:
    """Map `size` bytes of anonymous memory, write one byte per page and time it."""
    memory = mmap.mmap(-1, size)
    start = time.perf_counter()
    for offset in range(0, size, PAGE_BYTES):
        memory[offset] = 1
    return memory, time.perf_counter() - start


def first_touch_mb_per_second() -> float:
    """Return how fast this process can take fresh memory pages into use, in MB/s.

    Some virtual machines back guest memory lazily, so the guest's first
    write to a page of physical memory traps to the host. There this rate
    is far below memory bandwidth until the guest has used its memory once,
    and the first use of page cache pages slows file reads and writes.
    """
    memory, seconds = _touch_pages(PROBE_BYTES)
    memory.close()
    return PROBE_BYTES / 1_000_000 / seconds


def available_bytes() -> int:
    for line in (PROC / "meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB (KiB)
    return 0


def prefault(size: int) -> int:
    """Write to `size` bytes of fresh memory at once, then free it, and return the bytes used.

    Holding all of it before freeing any makes the kernel hand out distinct
    physical pages, so each is touched once. The size is capped so that
    `PREFAULT_RESERVE_BYTES` stay available to other processes.
    """
    size = min(size, max(available_bytes() - PREFAULT_RESERVE_BYTES, 0))
    mappings = []
    try:
        for _ in range(size // PROBE_BYTES):
            memory, _ = _touch_pages(PROBE_BYTES)
            mappings.append(memory)
    finally:
        for memory in mappings:
            memory.close()
    return len(mappings) * PROBE_BYTES


def cached_fraction(path: Path) -> float:
    """Return the share of `path`'s bytes in the page cache, from util-linux fincore.

    fincore calls mincore(2) without reading the file, so the check loads
    nothing into the cache.
    """
    output = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    resident, size = int(output[0]), int(output[1])
    # RES counts whole pages, so a file whose size is not a multiple of the
    # page size shows slightly more than its size when fully cached.
    return min(resident / size, 1.0) if size else 1.0


def evict_from_page_cache(path: Path) -> None:
    """Drop the cached pages of `path`, so the next read comes from disk.

    The file is flushed first, because the kernel keeps dirty pages.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
