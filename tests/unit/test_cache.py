"""Epoch-checked caches: a bump by one process invalidates every other's entries."""

from __future__ import annotations

from pathlib import Path

from seawall.registry.cache import EpochCache, MetadataEpoch


def test_epoch_file_created_on_first_read(tmp_path: Path) -> None:
    MetadataEpoch(tmp_path).current()
    assert (tmp_path / "metadata-epoch").is_file()


def test_epoch_stable_without_bump(tmp_path: Path) -> None:
    epoch = MetadataEpoch(tmp_path)
    assert epoch.current() == epoch.current()


def test_bump_changes_epoch(tmp_path: Path) -> None:
    epoch = MetadataEpoch(tmp_path)
    before = epoch.current()
    epoch.bump()
    assert epoch.current() != before


def test_bump_seen_by_other_instance(tmp_path: Path) -> None:
    reader = MetadataEpoch(tmp_path)
    before = reader.current()
    MetadataEpoch(tmp_path).bump()
    assert reader.current() != before


def test_same_folder_same_epoch(tmp_path: Path) -> None:
    assert MetadataEpoch(tmp_path).current() == MetadataEpoch(tmp_path).current()


def test_epochs_never_repeat(tmp_path: Path) -> None:
    # A reader may hold an epoch across several writes, so a bump must never
    # return to an earlier value, for example through a reused inode number.
    epoch = MetadataEpoch(tmp_path)
    seen = {epoch.current()}
    for _ in range(300):
        epoch.bump()
        seen.add(epoch.current())
    assert len(seen) == 301


def test_bump_leaves_no_temporary_files(tmp_path: Path) -> None:
    epoch = MetadataEpoch(tmp_path)
    for _ in range(5):
        epoch.bump()
    assert [path.name for path in tmp_path.iterdir()] == ["metadata-epoch"]


def test_cache_miss_is_none() -> None:
    cache: EpochCache[str, int] = EpochCache(4)
    assert cache.get("a", (1, 1)) is None


def test_cache_hit_same_epoch() -> None:
    cache: EpochCache[str, int] = EpochCache(4)
    cache.put("a", (1, 1), 10)
    assert cache.get("a", (1, 1)) == 10


def test_cache_miss_after_epoch_change() -> None:
    cache: EpochCache[str, int] = EpochCache(4)
    cache.put("a", (1, 1), 10)
    assert cache.get("a", (1, 2)) is None


def test_stale_entry_dropped() -> None:
    cache: EpochCache[str, int] = EpochCache(4)
    cache.put("a", (1, 1), 10)
    cache.get("a", (2, 1))
    assert cache.get("a", (1, 1)) is None


def test_put_replaces_value_and_epoch() -> None:
    cache: EpochCache[str, int] = EpochCache(4)
    cache.put("a", (1, 1), 10)
    cache.put("a", (1, 2), 20)
    assert cache.get("a", (1, 2)) == 20


def test_oldest_entry_evicted() -> None:
    cache: EpochCache[str, int] = EpochCache(2)
    cache.put("a", (1, 1), 1)
    cache.put("b", (1, 1), 2)
    cache.put("c", (1, 1), 3)
    assert cache.get("a", (1, 1)) is None


def test_newer_entries_kept_on_eviction() -> None:
    cache: EpochCache[str, int] = EpochCache(2)
    cache.put("a", (1, 1), 1)
    cache.put("b", (1, 1), 2)
    cache.put("c", (1, 1), 3)
    assert [cache.get("b", (1, 1)), cache.get("c", (1, 1))] == [2, 3]


def test_recently_read_entry_kept() -> None:
    cache: EpochCache[str, int] = EpochCache(2)
    cache.put("a", (1, 1), 1)
    cache.put("b", (1, 1), 2)
    cache.get("a", (1, 1))
    cache.put("c", (1, 1), 3)
    assert cache.get("a", (1, 1)) == 1


def test_least_recently_read_evicted() -> None:
    cache: EpochCache[str, int] = EpochCache(2)
    cache.put("a", (1, 1), 1)
    cache.put("b", (1, 1), 2)
    cache.get("a", (1, 1))
    cache.put("c", (1, 1), 3)
    assert cache.get("b", (1, 1)) is None


def test_zero_size_cache_stores_nothing() -> None:
    cache: EpochCache[str, int] = EpochCache(0)
    cache.put("a", (1, 1), 1)
    assert cache.get("a", (1, 1)) is None


def test_cache_with_real_epoch(tmp_path: Path) -> None:
    epoch = MetadataEpoch(tmp_path)
    cache: EpochCache[str, str] = EpochCache(8)
    cache.put("library", epoch.current(), "public")
    MetadataEpoch(tmp_path).bump()
    assert cache.get("library", epoch.current()) is None
