"""Ingest in worker processes and the workspace token cache: same rows, exact counts, less work.

Exports are the ChatGPT plugin's synthetic conversations with distinct text in every message,
enough to fill several batches; ``ingest_workers`` forces the worker pool on exports far below
the size that would start it by default.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import apsw
import pytest
from moonshine_chatgpt.synthetic import conversation_2026_slim

from moonshine_core import ingest_batches
from moonshine_core.errors import MoonshineError
from moonshine_core.ingest import BATCH_RECORDS, ingest, token_cache
from moonshine_core.ingest_batches import PARALLEL_MIN_BYTES, worker_count
from moonshine_core.store import RECORD_TABLES, Store
from moonshine_core.tokencache import VERIFY_ONE_IN, should_verify
from moonshine_core.workspace import Workspace

#: Columns that say which run wrote a row (they differ between two ingests of one file by design).
PER_RUN = {"provider_run_id", "ingested_at", "source_path", "rev"}
COUNT = BATCH_RECORDS * 3 + 7  # several batches and a partial one

pytestmark = pytest.mark.skipif(not ingest_batches.parallel_available(), reason="worker processes need fork")


def _workspace(root: Path, workers: int | None) -> Workspace:
    root.mkdir(parents=True)
    (root / "moonshine.toml").write_text("" if workers is None else f"ingest_workers = {workers}\n")
    return Workspace.open(root)


def _rows(db_path: str) -> dict[str, list[tuple]]:
    with Store(db_path, readonly=True) as store:
        out = {}
        for table in RECORD_TABLES:
            rows = store.rows(f"SELECT * FROM {table} ORDER BY rowid")
            out[table] = [tuple(sorted((k, v) for k, v in r.items() if k not in PER_RUN)) for r in rows]
        return out


def _conversation(i: int, *, edited: bool = False) -> dict:
    item = conversation_2026_slim(f"68c00000-0000-8000-9000-{i:012d}", extra_turn=bool(i % 2),
                                  update_time=1_700_000_100.0 + (50 if edited else 0))
    for node in item["mapping"].values():
        content = (node.get("message") or {}).get("content") or {}
        content["parts"] = [f"{p} (conversation {i}{', edited' if edited else ''})" if isinstance(p, str) else p
                            for p in content.get("parts") or []]
    return item


def _write(path: Path, items: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, ensure_ascii=False))
    return path


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("export") / "conversations.json", [_conversation(i) for i in range(COUNT)])


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv("MOONSHINE_INGEST_WORKERS", raising=False)


def test_workers_write_the_same_rows_in_the_same_order_as_one_process(export, tmp_path):
    serial = ingest(export, "chatgpt", workspace=_workspace(tmp_path / "serial", 0))
    parallel = ingest(export, "chatgpt", workspace=_workspace(tmp_path / "parallel", 2))
    assert serial.gates_passed and parallel.gates_passed
    assert parallel.manifest["timings"]["seconds"]["workers"] == 2
    assert serial.manifest["timings"]["seconds"]["workers"] == 0
    assert _rows(parallel.db_path) == _rows(serial.db_path)
    for key in ("counts", "unknown_shapes", "not_normalised", "gates_raw"):
        assert parallel.manifest[key] == serial.manifest[key], key
    assert parallel.manifest["counts"]["db_rows"]["conversations"] == COUNT
    # Each worker tokenises a text it has not seen once, so two may each count a shared text.
    assert parallel.manifest["tokens"]["headline_non_system"] == serial.manifest["tokens"]["headline_non_system"]
    ledgers = [{k: v for k, v in json.loads(Path(r.ledger_path).read_text()).items() if k not in ("run_id", "generated_at")}
               for r in (parallel, serial)]
    assert ledgers[0] == ledgers[1]


def test_a_second_ingest_of_the_same_texts_tokenises_nothing_and_counts_the_same(export, tmp_path):
    ws = _workspace(tmp_path / "ws", 2)
    first = ingest(export, "chatgpt", workspace=ws)
    again = ingest(export, "chatgpt", workspace=ws)
    assert first.manifest["tokens"]["texts_tokenised"] > 0
    assert again.manifest["tokens"]["texts_tokenised"] == 0
    assert again.manifest["tokens"]["cache_hits"] == (first.manifest["tokens"]["texts_tokenised"]
                                                      + first.manifest["tokens"]["cache_hits"])
    assert again.manifest["tokens"]["cache_hits_verified"] > 0
    assert again.manifest["tokens"]["headline_non_system"] == first.manifest["tokens"]["headline_non_system"]
    assert _rows(again.db_path) == _rows(first.db_path)


def test_a_re_export_with_a_few_changed_conversations_tokenises_only_their_new_texts(export, tmp_path):
    ws = _workspace(tmp_path / "ws", 0)
    first = ingest(export, "chatgpt", workspace=ws)
    changed = {0, 5, 9}
    re_export = _write(tmp_path / "re" / "conversations.json",
                       [_conversation(i, edited=i in changed) for i in range(COUNT)])
    again = ingest(re_export, "chatgpt", workspace=ws)
    # Exactly the edited texts are new; a fresh workspace gives the same rows with no cache at all.
    fresh = ingest(re_export, "chatgpt", workspace=_workspace(tmp_path / "fresh", 0))
    assert 0 < again.manifest["tokens"]["texts_tokenised"] < first.manifest["tokens"]["texts_tokenised"] / 10
    assert again.manifest["tokens"]["texts_tokenised"] == _new_texts(first, fresh)
    assert _rows(again.db_path) == _rows(fresh.db_path)
    assert again.manifest["tokens"] == {**fresh.manifest["tokens"],
                                        "texts_tokenised": again.manifest["tokens"]["texts_tokenised"],
                                        "cache_hits": again.manifest["tokens"]["cache_hits"],
                                        "cache_hits_verified": again.manifest["tokens"]["cache_hits_verified"]}


def _new_texts(first, fresh) -> int:
    def texts(result) -> set[str]:
        with Store(result.db_path, readonly=True) as store:
            found = set()
            for row in store.rows("SELECT text, reasoning, tool_calls_json, tool_results_json FROM messages"):
                found.update(v for v in (row["text"], row["reasoning"]) if v)
            return found
    tool_free = all(r["tool_calls_json"] == "[]" and r["tool_results_json"] == "[]"
                    for r in Store(fresh.db_path, readonly=True).rows("SELECT * FROM messages"))
    assert tool_free, "the synthetic conversations have no tool traffic: text and reasoning are every text"
    return len(texts(fresh) - texts(first))


def test_a_wrong_count_in_the_cache_is_caught_and_the_run_rebuilt_without_it(export, tmp_path):
    ws = _workspace(tmp_path / "ws", 0)
    first = ingest(export, "chatgpt", workspace=ws)
    cache = token_cache(ws)
    cache.close()
    conn = apsw.Connection(str(cache.path))
    keys = [k for (k,) in conn.execute("SELECT key FROM counts") if should_verify(k)]
    assert keys, f"no key in the verified sample (1 in {VERIFY_ONE_IN})"
    with conn:
        conn.execute("UPDATE counts SET tokens = tokens + 1000 WHERE key = ?", (keys[0],))
    conn.close()
    again = ingest(export, "chatgpt", workspace=ws)
    assert again.manifest["tokens"]["headline_non_system"] == first.manifest["tokens"]["headline_non_system"]
    assert again.manifest["tokens"]["cache_hits"] == 0  # rebuilt from scratch
    assert _rows(again.db_path) == _rows(first.db_path)


@pytest.mark.parametrize("damage", ["garbage", "other_encoding"])
def test_a_damaged_or_foreign_cache_file_is_set_aside(export, tmp_path, damage):
    ws = _workspace(tmp_path / "ws", 0)
    first = ingest(export, "chatgpt", workspace=ws)
    path = token_cache(ws).path
    if damage == "garbage":
        path.write_bytes(b"not a database at all" * 100)
        for side in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            side.unlink(missing_ok=True)
    else:
        conn = apsw.Connection(str(path))
        with conn:
            conn.execute("UPDATE meta SET value = 'another encoding' WHERE name = 'encoding_sha256'")
        conn.close()
    again = ingest(export, "chatgpt", workspace=ws)
    assert again.manifest["tokens"]["cache_hits"] == 0
    assert again.manifest["tokens"]["headline_non_system"] == first.manifest["tokens"]["headline_non_system"]
    third = ingest(export, "chatgpt", workspace=ws)  # and the rebuilt cache serves the next run
    assert third.manifest["tokens"]["texts_tokenised"] == 0


def test_a_worker_that_dies_fails_the_run_cleanly(export, tmp_path, monkeypatch):
    ws = _workspace(tmp_path / "ws", 2)
    real = ingest_batches.BatchWork.run

    def dying(self, batch):
        if os.getpid() != parent:
            os._exit(9)
        return real(self, batch)

    parent = os.getpid()
    monkeypatch.setattr(ingest_batches.BatchWork, "run", dying)
    with pytest.raises(MoonshineError, match="ingest worker process died"):
        ingest(export, "chatgpt", workspace=ws)
    assert ws.run_ids() == []
    assert not any(ws.staging_dir.iterdir())


def test_an_error_raised_in_a_worker_reaches_the_caller_by_message(export, tmp_path, monkeypatch):
    ws = _workspace(tmp_path / "ws", 2)

    def failing(self, batch):
        raise MoonshineError("the export says no")

    monkeypatch.setattr(ingest_batches.BatchWork, "run", failing)
    with pytest.raises(MoonshineError, match="the export says no"):
        ingest(export, "chatgpt", workspace=ws)
    assert ws.run_ids() == []


def test_worker_count(monkeypatch):
    assert worker_count(0, 10**10) == 0
    assert worker_count(3, 10) == 3
    assert worker_count(None, 10) == 0
    cores = len(os.sched_getaffinity(0))
    assert worker_count(None, PARALLEL_MIN_BYTES) == (cores if cores > 1 else 0)
    monkeypatch.setenv("MOONSHINE_INGEST_WORKERS", "1")
    assert worker_count(None, 10) == 1 and worker_count(4, 10) == 1
    monkeypatch.setenv("MOONSHINE_INGEST_WORKERS", "many")
    with pytest.raises(MoonshineError, match="whole number"):
        worker_count(None, 10)


@pytest.mark.slow
def test_killing_the_ingest_ends_its_workers_and_frees_the_workspace(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    big = _write(tmp_path / "big" / "conversations.json", [_conversation(i) for i in range(40 * BATCH_RECORDS)])
    ws = _workspace(tmp_path / "ws", 2)
    script = ("import sys; from moonshine_core.ingest import ingest; from moonshine_core.workspace import Workspace; "
              "ingest(sys.argv[1], 'chatgpt', workspace=Workspace.open(sys.argv[2]))")
    proc = subprocess.Popen([sys.executable, "-c", script, str(big), str(ws.root)])
    deadline = time.time() + 60
    while time.time() < deadline and not _children(proc.pid):
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers and proc.poll() is None, "ingest finished (or never forked) before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "workers outlived the killed ingest"
    result = ingest(_write(tmp_path / "small" / "conversations.json", [_conversation(1)]), "chatgpt", workspace=ws)
    assert result.gates_passed and len(ws.run_ids()) == 1


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
