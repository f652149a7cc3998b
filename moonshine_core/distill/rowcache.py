"""The distill row cache: each conversation's finished rows per lane, kept between runs.

A ``run`` that adds a small export to a large mash changes few conversations;
:class:`RowCache` lets the pipeline skip scoring, emitting and finishing the
others. The corpus pass (duplicates, near-duplicate clusters, split, mix) and
the files still run over every row, so the output is byte-identical to a full
distill (tests/test_distill_incremental.py).

An entry is used only when all of these match what the run would use:

- the conversation's **inputs**: its row (content hash, raw hash, provider run),
  every message's content hash, and the feedback and comparisons naming it
  (:func:`conversation_inputs`);
- the **run fingerprint**: the moonshine_core version and a hash of its source,
  every loaded plugin and its version, the row schema and signal versions, and
  the redaction inputs (the profile terms, so one profile's names never reach
  another's rows);
- for a lane's rows, the lane name and every lane setting.

The cache lives in ``.moonshine/cache/distill-rows.sqlite`` and only saves work:
a missing, unreadable or foreign file is replaced, never trusted. Entries of
conversations no longer in the mash are removed after each run, so it holds at
most one entry per conversation and lane. ``distill(..., use_cache=False)``
ignores it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sqlite3
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from .. import __version__
from ..ids import canonical_json
from ..plugins import PluginManager
from ..records import Score
from ..store import Store
from ..workspace import LaneSettings
from .provenance import ROW_SCHEMA_VERSION
from .textsignals import SIGNALS_VERSION

#: Bumped when the cache's tables or entry bodies change shape.
CACHE_FORMAT = "1"
CACHE_FILE = "distill-rows.sqlite"
_PACKAGE = Path(__file__).resolve().parent.parent


def _sha(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


@functools.cache
def _source_sha() -> str:
    """Hash of every moonshine_core source file: a change to any lane, scorer or helper invalidates.
    Taken once per process, as near as it gets to the code that process imported."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _file_sha(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _plugin_identity(plugin: Any) -> list[str]:
    """What a registered plugin object is: its module or class, and a hash of the file defining it."""
    owner = plugin if inspect.ismodule(plugin) else type(plugin)
    name = owner.__name__ if inspect.ismodule(owner) else f"{owner.__module__}.{owner.__qualname__}"
    try:
        source = inspect.getsourcefile(owner)
    except TypeError:
        source = None
    return [name, _file_sha(source) if source else "no-source"]


def run_fingerprint(pm: PluginManager, terms: list[Any], signals_generator: str) -> str:
    """What every cached entry of one run depends on besides its conversation (see the module docstring)."""
    infos = sorted((i.name, i.distribution, i.version) for i in pm.plugin_infos())
    objects = sorted([name, *_plugin_identity(plugin)] for name, plugin in pm.pm.list_name_plugin())
    return _sha({"format": CACHE_FORMAT, "moonshine_core": __version__, "source": _source_sha(),
                 "plugins": infos, "plugin_objects": objects, "strict": pm.strict,
                 "row_schema": ROW_SCHEMA_VERSION, "signals": SIGNALS_VERSION,
                 "generator": signals_generator, "terms": [list(t) for t in terms]})


def lane_fingerprint(run: str, lane: str, settings: LaneSettings) -> str:
    """The run fingerprint plus the lane and its settings (``enabled`` changes no lane's rows)."""
    values = {k: v for k, v in attrs.asdict(settings).items() if k != "enabled"}
    return _sha({"run": run, "lane": lane, "settings": values})


def conversation_inputs(store: Store, row: dict[str, Any]) -> str:
    """Hash of everything a lane and a scorer read of one conversation in the mash."""
    uid, provider, cid = row["record_uid"], row["provider"], row["conversation_id"]
    messages = store.conn.execute(
        "SELECT record_uid, content_sha256, provider_run_id, position FROM messages "
        "WHERE conversation_uid = ? ORDER BY position", (uid,)).fetchall()
    side = [store.conn.execute(f"SELECT record_uid, content_sha256 FROM {table} WHERE provider = ? AND "
                               "conversation_id = ? ORDER BY record_uid", (provider, cid)).fetchall()
            for table in ("feedback", "comparisons")]
    return _sha({"conversation": [uid, row["content_sha256"], row["raw_sha256"], row["provider_run_id"]],
                 "messages": [list(m) for m in messages], "feedback": [list(r) for r in side[0]],
                 "comparisons": [list(r) for r in side[1]]})


@attrs.define
class ConversationEntry:
    """What the pipeline needs of a conversation whose rows all come from the cache."""

    scores: list[Score]
    score_failures: Counter[str]
    signature: list[int] | None


@attrs.define
class LaneEntry:
    """One conversation's finished rows of one lane and what it left out."""

    rows: list[dict[str, Any]]
    left_out: Counter[str]


def _pack(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8"), 1)


def _unpack(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (conv_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
    inputs TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS lane_rows (conv_key TEXT NOT NULL, lane TEXT NOT NULL, fingerprint TEXT NOT NULL,
    inputs TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (conv_key, lane));
"""


class RowCache:
    """The cache file of one workspace, open for one distill run (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = path
        self.conn = self._open()
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()
        self.seen: set[str] = set()
        self.broken = False

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except (sqlite3.DatabaseError, OSError, ValueError):
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.executescript(_SCHEMA)
            found = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if found is None or found[0] != CACHE_FORMAT:   # new, or written by another version
                conn.executescript("DROP TABLE conversations; DROP TABLE lane_rows; DELETE FROM meta;" + _SCHEMA)
                conn.execute("INSERT INTO meta VALUES ('format', ?)", (CACHE_FORMAT,))
            conn.execute("BEGIN")
        except BaseException:
            conn.close()
            raise
        return conn

    def _write(self, sql: str, params: tuple) -> None:
        if self.broken:
            return
        try:
            self.conn.execute(sql, params)
        except sqlite3.DatabaseError:
            self.broken = True   # a file that breaks mid-run: the run goes on without storing

    def _body(self, sql: str, params: tuple) -> Any:
        if self.broken:
            return None
        try:
            found = self.conn.execute(sql, params).fetchone()
            return _unpack(found[0]) if found is not None else None
        except (sqlite3.DatabaseError, zlib.error, ValueError, UnicodeDecodeError):
            return None   # an unreadable entry is a miss; the run writes a fresh one

    def conversation(self, key: str, fingerprint: str, inputs: str) -> ConversationEntry | None:
        self.seen.add(key)
        body = self._body("SELECT body FROM conversations WHERE conv_key = ? AND fingerprint = ? AND inputs = ?",
                          (key, fingerprint, inputs))
        if body is None:
            return None
        return ConversationEntry(scores=[Score(**s) for s in body["scores"]],
                                 score_failures=Counter(body["score_failures"]), signature=body["signature"])

    def put_conversation(self, key: str, fingerprint: str, inputs: str, entry: ConversationEntry) -> None:
        body = {"scores": [attrs.asdict(s) for s in entry.scores], "score_failures": dict(entry.score_failures),
                "signature": entry.signature}
        self._write("INSERT OR REPLACE INTO conversations VALUES (?,?,?,?)", (key, fingerprint, inputs, _pack(body)))

    def lane(self, key: str, lane: str, fingerprint: str, inputs: str) -> LaneEntry | None:
        body = self._body("SELECT body FROM lane_rows WHERE conv_key = ? AND lane = ? AND fingerprint = ? "
                          "AND inputs = ?", (key, lane, fingerprint, inputs))
        if body is None:
            self.misses[lane] += 1
            return None
        self.hits[lane] += 1
        return LaneEntry(rows=body["rows"], left_out=Counter(body["left_out"]))

    def put_lane(self, key: str, lane: str, fingerprint: str, inputs: str, entry: LaneEntry) -> None:
        self._write("INSERT OR REPLACE INTO lane_rows VALUES (?,?,?,?,?)",
                    (key, lane, fingerprint, inputs, _pack({"rows": entry.rows, "left_out": dict(entry.left_out)})))

    def close(self, complete: bool) -> None:
        """Commit (dropping entries of conversations no longer in the mash when the run saw them
        all), or roll back when the run failed."""
        try:
            if complete and not self.broken:
                self.conn.execute("CREATE TEMP TABLE seen (conv_key TEXT PRIMARY KEY)")
                self.conn.executemany("INSERT INTO seen VALUES (?)", ((k,) for k in self.seen))
                for table in ("conversations", "lane_rows"):
                    self.conn.execute(f"DELETE FROM {table} WHERE conv_key NOT IN (SELECT conv_key FROM seen)")
                self.conn.execute("COMMIT")
            else:
                self.conn.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass   # nothing stored this time; the next run rebuilds what it needs
        finally:
            self.conn.close()


def open_cache(path: Path) -> RowCache | None:
    """The cache at ``path``, or ``None`` when it cannot be opened even afresh (the run goes without)."""
    try:
        return RowCache(path)
    except (sqlite3.DatabaseError, OSError, ValueError):
        return None
