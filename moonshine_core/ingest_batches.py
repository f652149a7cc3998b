"""What one batch of raw records becomes during an ingest, in this process or in worker processes.

The ingest's main process streams the export (the plugin's parser) and writes
the run DB; everything between — normalising each raw record, checking it for
the raw gates, counting its tokens, building its rows — is :class:`BatchWork`,
which runs on batches of raw records either in the main process or in a pool of
worker processes (:class:`WorkerPool`, one per core). Results come back in the
order the batches were sent, so a run DB built with workers holds the same rows
in the same order as one built without.

Each batch's :class:`Tally` (counts, gate evidence, failures) is merged into
the run's in the same order; token counts a worker makes are returned so the
main process (the only writer) can add them to the workspace token cache.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

import attrs

from .errors import MoonshineError, NormalizeError, PluginError
from .gates.raw import RawEvidence
from .plugins import PluginManager
from .records import Comparison, Conversation, Feedback, RawRecord, SideRecord
from .store import Counts, Provenance
from .store.rows import as_values, record_rows
from .store.schema import RECORD_TABLES
from .tokencache import CacheMismatch, TokenCache
from .tokens import TokenCounter, TokenCounts

#: Below this many uncompressed bytes an export is ingested in-process: starting workers costs more.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
#: Batches in flight per worker: enough to keep every worker busy, few enough to keep memory flat.
IN_FLIGHT_PER_WORKER = 2


@attrs.define
class Tally:
    """Running counts of an ingest; each batch has its own, merged into the run's in order."""

    raw: Counter = attrs.field(factory=Counter)
    conversations: int = 0
    records: Counter = attrs.field(factory=Counter)
    unknown_shapes: Counter = attrs.field(factory=Counter)
    failures: list[dict[str, Any]] = attrs.field(factory=list)
    evidence: RawEvidence = attrs.field(factory=RawEvidence)
    written: dict[str, Counts] = attrs.field(factory=lambda: {t: Counts() for t in RECORD_TABLES})
    seconds: Counter = attrs.field(factory=Counter)
    #: Export-folder entries that are not members (links, devices, FIFOs), with the reason.
    skipped: dict[str, str] = attrs.field(factory=dict)
    tokenised: int = 0
    cache_hits: int = 0
    verified: int = 0

    def merge(self, other: "Tally") -> None:
        """Add a batch's tally (``other``) to this one."""
        self.raw.update(other.raw)
        self.conversations += other.conversations
        self.records.update(other.records)
        self.unknown_shapes.update(other.unknown_shapes)
        self.failures.extend(other.failures)
        self.evidence.merge(other.evidence)
        for table, counts in other.written.items():
            self.written[table].add(counts)
        self.seconds.update(other.seconds)
        self.tokenised += other.tokenised
        self.cache_hits += other.cache_hits
        self.verified += other.verified


@attrs.define
class BatchResult:
    """A batch's rows per table (``(columns, tuples)``), its tally, and the token counts made for it
    (for the disk cache)."""

    rows: dict[str, tuple[tuple[str, ...], list[tuple]]]
    tally: Tally
    fresh_counts: list[tuple[bytes, int]]
    conversations: int


class BatchWork:
    """Normalise, check, count and turn into rows one batch of raw records."""

    def __init__(self, pm: PluginManager, provider: str, prov: Provenance, counter: TokenCounter):
        self.pm = pm
        self.provider = provider
        self.prov = prov
        self.counter = counter

    def run(self, batch: list[RawRecord]) -> BatchResult:
        tally = Tally()
        records: list[Any] = []
        t = time.perf_counter()
        for raw in batch:
            records.extend(self._normalise(raw, tally))
        tally.seconds["parse_normalize"] += time.perf_counter() - t
        t = time.perf_counter()
        tokens = self._tokens(records)
        tally.seconds["tokenise"] += time.perf_counter() - t
        t = time.perf_counter()
        rows = as_values(record_rows(records, self.prov, tokens))
        tally.seconds["rows"] += time.perf_counter() - t
        tally.tokenised, tally.cache_hits, tally.verified = (self.counter.tokenised, self.counter.cache_hits,
                                                             self.counter.verified)
        self.counter.tokenised = self.counter.cache_hits = self.counter.verified = 0
        return BatchResult(rows=rows, tally=tally, fresh_counts=self.counter.take_fresh(),
                           conversations=sum(1 for r in records if isinstance(r, Conversation)))

    def _normalise(self, raw: RawRecord, tally: Tally) -> list[Any]:
        tally.raw[raw.kind] += 1
        try:
            records = self.pm.normalize(self.provider, raw)
        except NormalizeError as exc:
            tally.failures.append({"kind": raw.kind, "member": raw.member, "index": raw.index, "reason": str(exc)})
            return []
        except MoonshineError:
            raise
        except Exception as exc:  # undocumented exception from a plugin: listed, never fatal
            tally.failures.append({"kind": raw.kind, "member": raw.member, "index": raw.index,
                                   "reason": f"plugin error {type(exc).__name__}: {exc}"})
            return []
        if raw.kind == "conversation":
            tally.evidence.raw_conversation(records)
        for record in records:
            _account(record, tally)
        return records

    def _tokens(self, records: list[Any]) -> dict[str, dict[str, TokenCounts]]:
        owners = [(r.conversation_id, m) for r in records if isinstance(r, Conversation) for m in r.messages]
        tokens: dict[str, dict[str, TokenCounts]] = {}
        for (cid, message), counts in zip(owners, self.counter.count_messages([m for _, m in owners])):
            tokens.setdefault(cid, {})[message.message_id] = counts
        return tokens


def _account(record: Any, tally: Tally) -> None:
    kind = {Conversation: "conversations", Feedback: "feedback", Comparison: "comparisons",
            SideRecord: "side_records"}.get(type(record))
    if kind is None:
        raise PluginError(f"normalize returned {type(record).__name__}, not a record")
    tally.records[kind] += 1
    for shape in getattr(record, "unknown_shapes", []):
        tally.unknown_shapes[shape] += 1
    if isinstance(record, Conversation):
        tally.conversations += 1
        tally.evidence.conversation(record)


def worker_count(setting: int | None, export_bytes: int) -> int:
    """Worker processes for an export of ``export_bytes`` (0: in-process).

    ``setting`` is ``ingest_workers`` of ``moonshine.toml`` (or ``$MOONSHINE_INGEST_WORKERS``);
    unset, large exports get one worker per core and small ones none.
    """
    env = os.environ.get("MOONSHINE_INGEST_WORKERS")
    if env is not None and env.strip():
        try:
            setting = int(env)
        except ValueError:
            raise MoonshineError(f"MOONSHINE_INGEST_WORKERS must be a whole number, not {env!r}") from None
    if setting is not None:
        return max(0, setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores if cores > 1 and export_bytes >= PARALLEL_MIN_BYTES else 0


# -- worker processes -----------------------------------------------------------------------

_WORK: BatchWork | None = None


def parallel_available() -> bool:
    """Whether worker processes can be forked here (Linux: yes; elsewhere an ingest works in-process)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _init_worker(work: BatchWork, parent: int) -> None:
    global _WORK
    # Ctrl-C reaches the whole process group: the main process decides, workers just stop when told.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    _WORK = work


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this worker when the ingesting process dies (``kill -9`` included), so no
    orphan keeps working on a run that will never be written."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux's libc: the orphan ends when its pipe closes
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _run_in_worker(batch: list[RawRecord]) -> BatchResult | tuple[str, str, str]:
    assert _WORK is not None
    try:
        return _WORK.run(batch)
    except CacheMismatch as exc:
        return ("cache", type(exc).__name__, str(exc))
    except MoonshineError as exc:  # re-raised by name in the main process (not every error pickles)
        return ("moonshine", type(exc).__name__, str(exc))
    except Exception as exc:  # a plugin or core bug: the run fails with its name, as in-process
        return ("bug", type(exc).__name__, str(exc))


def _reraise(outcome: tuple[str, str, str]) -> None:
    kind, name, message = outcome
    if kind == "cache":
        raise CacheMismatch(message)
    if kind == "moonshine":
        raise MoonshineError(message)
    raise PluginError(f"ingest worker failed: {name}: {message}")


class WorkerPool:
    """Batches of raw records in, :class:`BatchResult` out, in order, from ``workers`` processes.

    Workers are forked from the main process, so they start with its plugins and its loaded
    encoding (shared, not copied) and nothing of ``work`` is pickled; each gets its own
    single-threaded token counter reading the disk cache. (``forkserver`` and ``spawn`` would
    re-run a user's script that has no ``__main__`` guard; forked workers never touch the main
    process's open databases, and leave with ``os._exit``.) At most ``IN_FLIGHT_PER_WORKER``
    batches per worker wait at any time, so memory does not grow with the export.
    """

    def __init__(self, workers: int, work: BatchWork):
        cache = work.counter.cache
        reader = TokenCache(cache.path, cache.encoding_sha256) if cache is not None else None
        worker_work = BatchWork(work.pm, work.provider, work.prov,
                                TokenCounter(work.counter.path, threads=1, cache=reader))
        self.limit = max(1, workers) * IN_FLIGHT_PER_WORKER
        self.executor = futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_init_worker,
            initargs=(worker_work, os.getpid()))
        self.pending: deque[futures.Future] = deque()

    def submit(self, batch: list[RawRecord]) -> Iterator[BatchResult]:
        """Send ``batch``; yields the results that had to be collected to make room, in order."""
        self.pending.append(self.executor.submit(_run_in_worker, batch))
        while len(self.pending) >= self.limit:
            yield self._next()

    def drain(self) -> Iterator[BatchResult]:
        """Every result still outstanding, in order."""
        while self.pending:
            yield self._next()

    def _next(self) -> BatchResult:
        future = self.pending.popleft()
        try:
            outcome = future.result()
        except futures.process.BrokenProcessPool as exc:
            raise MoonshineError("an ingest worker process died (out of memory, or killed); nothing was "
                                 "kept — retry, or set ingest_workers = 0 in moonshine.toml") from exc
        if isinstance(outcome, tuple):
            _reraise(outcome)
        return outcome

    def close(self) -> None:
        for future in self.pending:
            future.cancel()
        self.pending.clear()
        self.executor.shutdown(wait=True, cancel_futures=True)
