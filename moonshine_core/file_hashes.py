"""sha256 of the files one command checks, each read once.

Archive, merge and the gates after it check the same files several times (the
run DB live and archived, the archived export, the snapshot). A
:class:`FileHashes` made for one command remembers each file's sha256 under
its identity and stat (device, inode, size, modification time; not the change
time, which a hard link or a chmod moves without touching the bytes), so a second check of an unchanged file costs a ``stat``, two names of one
inode (a hard-linked archive copy) are read once, and a file written in
between is read again. A file the command itself rewrites (the mash) is
:meth:`~FileHashes.forget`-ten after the write, because a write within one
tick of the file-system clock can leave every stat field as it was.

:meth:`~FileHashes.start` hashes files on threads (hashlib and file reads
release the GIL) while the command does its SQL work, on the other core.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Self

from .sources import file_sha256

_Key = tuple[int, int, int, int]


def _key(path: Path) -> _Key:
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class FileHashes:
    """A per-command memo of file sha256s (see the module docstring)."""

    def __init__(self) -> None:
        self._known: dict[_Key, Future | str] = {}
        self._pool: ThreadPoolExecutor | None = None

    def __call__(self, path: str | os.PathLike[str]) -> str:
        """The sha256 of the file at ``path`` as it is now."""
        key = _key(Path(path))
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = file_sha256(path)
        elif isinstance(found, Future):
            found = self._known[key] = found.result()
        return found

    def start(self, *paths: str | os.PathLike[str]) -> None:
        """Begin hashing ``paths`` (those that exist) in the background; :meth:`__call__` waits for them."""
        for path in paths:
            if not Path(path).is_file():
                continue
            key = _key(Path(path))
            if key not in self._known:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sha256")
                self._known[key] = self._pool.submit(file_sha256, path)

    def forget(self, path: str | os.PathLike[str]) -> None:
        """Drop what is known of ``path`` (call after writing it)."""
        target = Path(path)
        if target.exists():
            key = _key(target)
            self._known = {k: v for k, v in self._known.items() if k[:2] != key[:2]}

    def close(self) -> None:
        """Wait for background hashing to end."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
