"""A workspace-wide, on-disk cache of o200k_base token counts, keyed by the text's sha256.

Next month's export repeats almost every text of this month's: with the counts
kept here, a re-ingest tokenises only what is new. The cache lives in the
workspace's private cache folder (:attr:`Workspace.cache_dir`), one SQLite
file per encoding; deleting it loses nothing but time.

Exactness never rests on the cache alone. An entry is only ever written from a
count just made; a file that is not a cache of this encoding, or cannot be
read, is set aside and rebuilt; and every ingest re-counts a sample of the
texts it found here (:data:`VERIFY_ONE_IN`). A wrong count in that sample means
the file cannot be trusted: the ingest throws the whole cache away and starts
over without it (:class:`CacheMismatch`).

One writer (the ingesting process, under the workspace lock) and any number of
readers (its worker processes) use it at once: the file is in WAL mode and
readers open it read-only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import apsw

from .errors import MoonshineError

#: One cache hit in this many is re-counted and compared (chosen by the key, so deterministic).
VERIFY_ONE_IN = 64
#: Keys per lookup query (well under SQLite's bound-parameter limit).
_LOOKUP_CHUNK = 900
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counts (key BLOB PRIMARY KEY, tokens INTEGER NOT NULL) WITHOUT ROWID;
"""


class CacheMismatch(MoonshineError):
    """A cached count disagreed with a fresh count of the same text: the cache file is not trustworthy."""


def cache_path(cache_dir: str | os.PathLike[str], encoding_name: str) -> Path:
    """Where the token cache of ``encoding_name`` lives under ``cache_dir``."""
    return Path(cache_dir) / f"tokens.{encoding_name}.db"


def should_verify(key: bytes) -> bool:
    """Whether a hit on ``key`` is one of the sample re-counted against the encoding."""
    return key[0] % VERIFY_ONE_IN == 0


class TokenCache:
    """Counts by sha256 digest of the text, for one encoding (named by its file's sha256).

    Open with ``writable=True`` in the process that adds counts (it creates the
    file); readers open it read-only and see nothing when it does not exist
    yet. Any SQLite error on reading makes the cache answer "not cached".
    """

    def __init__(self, path: str | os.PathLike[str], encoding_sha256: str, *, writable: bool = False):
        self.path = Path(path)
        self.encoding_sha256 = encoding_sha256
        self.writable = writable
        self._conn: apsw.Connection | None = None
        self._broken = False

    # -- opening ------------------------------------------------------------------
    def _connection(self) -> apsw.Connection | None:
        if self._conn is not None or self._broken:
            return self._conn
        try:
            self._conn = self._open()
        except (apsw.Error, OSError):
            self._broken = True
            self._conn = None
        return self._conn

    def _open(self) -> apsw.Connection | None:
        if self.writable:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return self._open_writer()
            except (apsw.Error, _WrongCache):
                # Not a cache of this encoding, or damaged: set aside (never read again) and start afresh.
                _discard(self.path)
                return self._open_writer()
        if not self.path.exists():
            return None
        conn = apsw.Connection(str(self.path), flags=apsw.SQLITE_OPEN_READONLY)
        conn.setbusytimeout(5000)
        try:
            _check_meta(conn, self.encoding_sha256)
        except _WrongCache:
            conn.close()
            return None
        return conn

    def _open_writer(self) -> apsw.Connection:
        conn = apsw.Connection(str(self.path))
        try:
            conn.setbusytimeout(5000)
            conn.execute("pragma journal_mode = WAL")
            # Losing the last few entries in a power cut costs a re-count, never a wrong count.
            conn.execute("pragma synchronous = NORMAL")
            with conn:
                conn.execute(_SCHEMA)
                stored = conn.execute("SELECT value FROM meta WHERE name = 'encoding_sha256'").get
                if stored is None:
                    conn.execute("INSERT INTO meta VALUES ('encoding_sha256', ?)", (self.encoding_sha256,))
                elif stored != self.encoding_sha256:
                    raise _WrongCache(stored)
            return conn
        except BaseException:
            conn.close()
            raise

    # -- use ------------------------------------------------------------------------
    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, int]:
        """The cached counts of those ``keys`` that are cached."""
        conn = self._connection()
        found: dict[bytes, int] = {}
        if conn is None or not keys:
            return found
        try:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start:start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                for key, tokens in conn.execute(f"SELECT key, tokens FROM counts WHERE key IN ({marks})", chunk):
                    found[key] = tokens
        except apsw.Error:
            # A cache that cannot be read is a cache that does not help; the counts are made afresh.
            self._broken = True
            self.close()
            return {}
        return found

    def add(self, entries: Iterable[tuple[bytes, int]]) -> None:
        """Store fresh counts (writer only); a failure to write only costs a later re-count."""
        entries = list(entries)
        conn = self._connection() if entries else None
        if conn is None:
            return
        try:
            with conn:
                conn.executemany("INSERT OR IGNORE INTO counts (key, tokens) VALUES (?, ?)", entries)
        except apsw.Error:
            self._broken = True
            self.close()

    def discard(self) -> None:
        """Throw the cache file away (after a :class:`CacheMismatch`)."""
        self.close()
        _discard(self.path)
        self._broken = False

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(apsw.Error):
                self._conn.close()
            self._conn = None


class _WrongCache(Exception):
    pass


def _check_meta(conn: apsw.Connection, encoding_sha256: str) -> None:
    try:
        stored = conn.execute("SELECT value FROM meta WHERE name = 'encoding_sha256'").get
    except apsw.Error as exc:
        raise _WrongCache(str(exc)) from exc
    if stored != encoding_sha256:
        raise _WrongCache(stored)


def _discard(path: Path) -> None:
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
