"""Count pulls and remember when each artifact and tag was last pulled.

A manifest GET is the hot path, so it only adds to an in-memory tally.
The tally is written to the database in one transaction every few
seconds, and once more when the process stops. Pull counts and times may
therefore lag by that interval, and a process that is killed loses the
pulls of its last interval. Writing them does not move the metadata
epoch: no cached read depends on them.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import select, update

from seawall.db import Database
from seawall.db.models import Artifact, Repository, Tag
from seawall.db.types import utcnow

logger = structlog.get_logger(__name__)

FLUSH_INTERVAL_SECONDS = 10


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    artifacts: dict[tuple[str, str], datetime] = field(default_factory=dict)
    tags: dict[tuple[str, str], datetime] = field(default_factory=dict)


class PullRecorder:
    """Collects pulls in memory and writes them to the database in batches."""

    def __init__(self) -> None:
        self._tally = _Tally()
        self._lock = threading.Lock()

    def record(self, repository: str, digest: str, tag: str | None) -> None:
        now = utcnow()
        with self._lock:
            tally = self._tally
            tally.counts[repository] += 1
            tally.artifacts[(repository, digest)] = now
            if tag is not None:
                tally.tags[(repository, tag)] = now

    def flush(self, db: Database) -> int:
        """Write the pulls recorded so far; return how many pulls were written.

        When the write fails, the pulls go back into the tally for the next
        flush, and the error is raised.
        """
        with self._lock:
            tally, self._tally = self._tally, _Tally()
        if not tally.counts:
            return 0
        try:
            self._write(db, tally)
        except Exception:
            self._restore(tally)
            raise
        return sum(tally.counts.values())

    def _restore(self, tally: _Tally) -> None:
        """Merge an unwritten tally back, keeping times recorded since."""
        with self._lock:
            self._tally.counts.update(tally.counts)
            for key, when in tally.artifacts.items():
                self._tally.artifacts.setdefault(key, when)
            for key, when in tally.tags.items():
                self._tally.tags.setdefault(key, when)

    @staticmethod
    def _write(db: Database, tally: _Tally) -> None:
        with db.session() as session:
            rows = session.execute(
                select(Repository.name, Repository.id).where(
                    Repository.name.in_(list(tally.counts))
                )
            )
            ids = {name: repository_id for name, repository_id in rows}
            for name, count in tally.counts.items():
                if name in ids:
                    session.execute(
                        update(Repository)
                        .where(Repository.id == ids[name])
                        .values(pull_count=Repository.pull_count + count)
                    )
            for (name, digest), when in tally.artifacts.items():
                if name in ids:
                    session.execute(
                        update(Artifact)
                        .where(
                            Artifact.repository_id == ids[name],
                            Artifact.digest == digest,
                        )
                        .values(pull_time=when)
                    )
            for (name, tag), when in tally.tags.items():
                if name in ids:
                    session.execute(
                        update(Tag)
                        .where(Tag.repository_id == ids[name], Tag.name == tag)
                        .values(pull_time=when)
                    )
