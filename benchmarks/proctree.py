"""Memory and CPU use of a process and all its descendants, read from Linux `/proc`.

A server may fork workers (granian starts a main process and worker
processes), so every figure here is a sum over the whole process tree.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _parent_ids() -> dict[int, int]:
    """Map each live process id to its parent's id."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process exited while the folder was read
        # The command name in field 2 may contain spaces and parentheses, so
        # the fields after it are found from the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root_pid: int) -> list[int]:
    """Return `root_pid` and the ids of all its live descendants."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parent_ids().items():
        children.setdefault(parent, []).append(pid)
    tree = [root_pid]
    index = 0
    while index < len(tree):
        tree.extend(children.get(tree[index], []))
        index += 1
    return tree


@dataclass(frozen=True)
class MemoryUse:
    """Resident memory of a process tree in bytes, summed over its processes.

    `rss` counts a page shared by several processes (such as the copy-on-write
    pages of a forked worker) once per process. `pss` splits each shared page
    among the processes that map it, so it shows the tree's real footprint.
    """

    rss: int
    pss: int


def _memory_use(pid: int) -> MemoryUse:
    try:
        rollup = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return MemoryUse(0, 0)  # the process exited, or it is a kernel thread
    values = {}
    for line in rollup.splitlines()[1:]:
        name, _, rest = line.partition(":")
        values[name] = int(rest.split()[0]) * 1024  # the kernel reports kB (KiB)
    return MemoryUse(values.get("Rss", 0), values.get("Pss", 0))


def tree_memory(root_pid: int) -> MemoryUse:
    """Return the summed RSS and PSS of the process tree."""
    uses = [_memory_use(pid) for pid in process_tree(root_pid)]
    return MemoryUse(sum(use.rss for use in uses), sum(use.pss for use in uses))


def _cpu_seconds(pid: int) -> float:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    # Fields 14 and 15 of stat(5), utime and stime, counted from field 3 here.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(root_pid: int) -> float:
    """Return user plus system CPU time of the live process tree, in seconds."""
    return sum(_cpu_seconds(pid) for pid in process_tree(root_pid))


class MemorySampler:
    """Sampler of the peak summed RSS and PSS of a process tree, on a background thread.

    Use it as a context manager around the operation to observe. The thread
    reads the tree every `interval` seconds, so a peak shorter than the
    interval can be missed.
    """

    def __init__(self, root_pid: int, interval: float = 0.05) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        use = tree_memory(self.root_pid)
        self.peak_rss = max(self.peak_rss, use.rss)
        self.peak_pss = max(self.peak_pss, use.pss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
