"""Bounded in-process caches that every worker process invalidates together.

A write that changes what a cached read would return (a manifest push or
delete, a tag move, a project change) bumps the metadata epoch: a small
file in the data folder replaced by rename. Each read compares the file's
identity (inode and modification time, one `stat` call) with the epoch its
entry was stored under, so every worker process on the host notices a change
as soon as the writer's transaction has committed.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

Epoch = tuple[int, int]


class MetadataEpoch:
    """Version stamp of the metadata that caches depend on."""

    # TODO: processes on several hosts share no data folder. Until the epoch
    # is also published through Redis, run one host per database, or set the
    # cache sizes to zero.

    def __init__(self, data_dir: Path, name: str = "metadata-epoch") -> None:
        self.path = data_dir / name

    def current(self) -> Epoch:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self.bump()
            stat = os.stat(self.path)
        return (stat.st_ino, stat.st_mtime_ns)

    def bump(self) -> None:
        temp = self.path.with_name(
            f"{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}"
        )
        temp.write_bytes(os.urandom(8))
        os.replace(temp, self.path)


class EpochCache(Generic[K, V]):
    """A least-recently-used map whose entries expire when the epoch changes."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[Epoch, V]] = OrderedDict()

    def get(self, key: K, epoch: Epoch) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] != epoch:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: K, epoch: Epoch, value: V) -> None:
        if self.max_entries <= 0:
            return
        self._entries[key] = (epoch, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
