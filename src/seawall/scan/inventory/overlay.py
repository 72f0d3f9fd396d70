"""The merged view of parsed files across layers, as an overlay filesystem sees it.

Only parsed results are kept, keyed by path, never file contents. Each layer
is applied on top of the ones below it when it ends:

- an entry at a path replaces whatever a lower layer had at that path;
- an entry that is not a directory also hides everything a lower layer had
  below that path;
- a whiteout `<dir>/.wh.<name>` deletes `<dir>/<name>` and everything below
  it from lower layers;
- an opaque marker `<dir>/.wh..wh..opq` deletes everything below `<dir>`
  from lower layers.

Whiteouts and replacements never touch entries of their own layer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from seawall.scan.inventory.records import FileResult


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A parsed file, or a symbolic link at a path the inventory reads."""

    kind: str
    layer_index: int
    layer_digest: str
    result: FileResult | None = None
    link_target: str | None = None  # set for symbolic links, which are never read


def ancestors(path: str) -> list[str]:
    """Return "a" and "a/b" for "a/b/c"."""
    parts = path.split("/")
    return ["/".join(parts[:count]) for count in range(1, len(parts))]


class Overlay:
    """Parsed files of the layers read so far, with whiteouts applied."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._directories: Counter[str] = Counter()  # ancestors of `_files` keys
        self._pending: dict[str, StoredFile] = {}
        self._deleted_paths: set[str] = set()
        self._deleted_trees: set[str] = set()
        self._opaque: set[str] = set()

    @property
    def files(self) -> dict[str, StoredFile]:
        return self._files

    def note_entry(self, path: str, *, is_directory: bool) -> None:
        """Record that the current layer has an entry at `path`."""
        self._pending.pop(
            path, None
        )  # a later entry of one tar replaces an earlier one
        if path in self._files:
            self._deleted_paths.add(path)
        if not is_directory and path in self._directories:
            self._deleted_trees.add(path)

    def whiteout(self, path: str) -> None:
        self._deleted_paths.add(path)
        self._deleted_trees.add(path)

    def make_opaque(self, directory: str) -> None:
        self._opaque.add(directory)

    def add(self, path: str, stored: StoredFile) -> None:
        self._pending[path] = stored

    def _is_deleted(self, path: str) -> bool:
        if path in self._deleted_paths:
            return True
        above = ancestors(path)
        if any(directory in self._deleted_trees for directory in above):
            return True
        return "" in self._opaque or any(
            directory in self._opaque for directory in above
        )

    def end_layer(self) -> None:
        """Apply the current layer's deletions to lower layers, then add its files."""
        if self._deleted_paths or self._deleted_trees or self._opaque:
            for path in [path for path in self._files if self._is_deleted(path)]:
                self._remove(path)
        for path, stored in self._pending.items():
            if path in self._files:
                self._remove(path)
            self._files[path] = stored
            self._directories.update(ancestors(path))
        self._pending.clear()
        self._deleted_paths.clear()
        self._deleted_trees.clear()
        self._opaque.clear()

    def _remove(self, path: str) -> None:
        del self._files[path]
        self._directories.subtract(ancestors(path))
        for directory in ancestors(path):
            if self._directories[directory] <= 0:
                del self._directories[directory]
