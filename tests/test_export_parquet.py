"""``moonshine export parquet``: the mash and the lanes as hive-partitioned Parquet, and the
commands of docs/scale-out.md run as written."""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
import distill_fixtures as fx  # noqa: E402

from moonshine_core import export_parquet as ep  # noqa: E402
from moonshine_core.cli.main import cli  # noqa: E402
from moonshine_core.distill import distill  # noqa: E402
from moonshine_core.errors import MoonshineError, RefusedError, StoreError  # noqa: E402
from moonshine_core.plugins import make_plugin_manager  # noqa: E402
from moonshine_core.records import Conversation  # noqa: E402
from moonshine_core.store import Store  # noqa: E402
from moonshine_core.store.db import connect  # noqa: E402
from moonshine_core.store.schema import PROVENANCE_COLUMNS, RECORD_TABLES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SQLITE_TO_ARROW = {"TEXT": pa.string(), "INTEGER": pa.int64(), "REAL": pa.float64()}
UTC = pa.timestamp("us", tz="UTC")
#: Message times of the synthetic ``times`` conversation: in range, fractional, before 1970, past 9999, none.
TIMES = [1_700_000_000.123456, 86_400.5, -1.5, 1e13, None]


def times_conversation(cid="c-times"):
    messages = [fx.msg(f"t{i}", "user" if i % 2 == 0 else "assistant", f"turn {i}", f"t{i - 1}" if i else None,
                       t=when) for i, when in enumerate(TIMES)]
    return [Conversation(conversation_id=cid, current_leaf_id=f"t{len(TIMES) - 1}", created_at=TIMES[0],
                         messages=messages)]


def records():
    found = fx.default_records()
    found["chatgpt"] = found["chatgpt"] + times_conversation()
    return found


@pytest.fixture
def ws(tmp_path):
    return fx.make_mash(tmp_path / "ws", records())


def mash_rows(ws, table):
    """Every row of ``table`` in the mash as a dict, by record_uid."""
    conn = connect(ws.mash_path, readonly=True)
    try:
        columns = [r[1] for r in conn.execute(f"pragma table_info({table})")]
        rows = [dict(zip(columns, row)) for row in conn.execute(f"SELECT {', '.join(columns)} FROM {table}")]
        return {row["record_uid"]: row for row in rows}
    finally:
        conn.close()


def mash_columns(ws, table):
    conn = connect(ws.mash_path, readonly=True)
    try:
        return [(r[1], r[2], bool(r[3])) for r in conn.execute(f"pragma table_info({table})")]
    finally:
        conn.close()


def mash_counts(ws, table):
    conn = connect(ws.mash_path, readonly=True)
    try:
        return dict(conn.execute(f"SELECT provider, count(*) FROM {table} GROUP BY provider").fetchall())
    finally:
        conn.close()


def read_table(out, table):
    """``table`` of an export as one Arrow table, ``provider`` restored from the hive paths."""
    partitioning = pads.partitioning(pa.schema([("provider", pa.string())]), flavor="hive")
    return pads.dataset(out / table, format="parquet", partitioning=partitioning).to_table()


def file_sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_hashes(out):
    return {p.relative_to(out).as_posix(): file_sha(p) for p in sorted(out.rglob("*.parquet"))}


def pm():
    return make_plugin_manager(load_entrypoints=False)


# -- tables ------------------------------------------------------------------------------------
def test_every_table_and_provider_partition_holds_the_mashs_rows(ws, tmp_path):
    out = tmp_path / "export"
    result = ep.export_parquet(ws, out, lanes=False)
    manifest = json.loads((out / ep.MANIFEST_NAME).read_text())
    assert {k: v for k, v in result.items() if k != "out_dir"} == manifest
    assert set(manifest["tables"]) == set(RECORD_TABLES)
    seen_providers = set()
    for table in RECORD_TABLES:
        expected = mash_counts(ws, table)
        assert expected, f"the fixture has no {table} rows"
        written = sorted(p.relative_to(out).as_posix() for p in (out / table).glob("*/*.parquet"))
        assert written == sorted(f"{table}/provider={p}/part-0.parquet" for p in expected)
        for provider, n in expected.items():
            path = out / table / f"provider={provider}" / "part-0.parquet"
            assert pq.ParquetFile(path).metadata.num_rows == n
            assert manifest["tables"][table]["files"][f"{table}/provider={provider}/part-0.parquet"] == \
                {"rows": n, "bytes": path.stat().st_size, "sha256": file_sha(path)}
        assert manifest["tables"][table]["by_provider"] == dict(sorted(expected.items()))
        assert manifest["tables"][table]["rows"] == sum(expected.values())
        seen_providers |= set(expected)
    assert seen_providers == {"chatgpt", "claude"}
    # claude has no feedback in the fixture: no partition folder for it, not an empty file
    assert not (out / "feedback" / "provider=claude").exists()
    assert manifest["schema_version"] == 3 and manifest["core_version"]
    assert manifest["workspace"] == str(ws.root)
    assert manifest["mash"]["records_check"] == "unrecorded"   # make_mash writes rows without a merge
    assert manifest["lanes"] is None and not (out / "lanes").exists()


def test_every_column_is_kept_with_the_documented_types_and_values(ws, tmp_path):
    out = tmp_path / "export"
    ep.export_parquet(ws, out, lanes=False)
    for table in RECORD_TABLES:
        columns = mash_columns(ws, table)
        one = next((out / table).glob("*/*.parquet"))
        schema = pq.ParquetFile(one).schema_arrow
        assert "provider" not in schema.names, "the partition column is in the path, not in the file"
        expected_names = []
        for name, declared, notnull in columns:
            if name == "provider":
                continue
            expected_names.append(name)
            field = schema.field(name)
            assert field.type == SQLITE_TO_ARROW[declared], (table, name)
            assert field.nullable is (not notnull), (table, name)
            if declared == "REAL" and name.endswith(("_at", "_time")):
                expected_names.append(f"{name}_utc")
                assert schema.field(f"{name}_utc").type == UTC
            if name.endswith("_json"):
                assert field.type == pa.string()
        assert schema.names == expected_names, table
        data = read_table(out, table)
        assert set(PROVENANCE_COLUMNS) <= set(data.column_names), table
        exported = {row["record_uid"]: row for row in data.to_pylist()}
        stored = mash_rows(ws, table)
        assert exported.keys() == stored.keys(), table
        for uid, row in stored.items():
            assert {k: exported[uid][k] for k in row} == row, (table, uid)


def test_time_columns_are_the_same_instant_in_utc(ws, tmp_path):
    out = tmp_path / "export"
    ep.export_parquet(ws, out, lanes=False)

    def instant(seconds):
        if seconds is None or seconds >= 253_402_300_800:
            return None   # no ISO-8601 date names the year 318857
        return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=round(seconds * 1e6))

    checked = 0
    for table in RECORD_TABLES:
        for row in read_table(out, table).to_pylist():
            for name in ("created_at", "updated_at", "source_time"):
                if name in row:
                    assert row[f"{name}_utc"] == instant(row[name]), (table, row["record_uid"], name)
                    checked += row[name] is not None
    assert checked > 20
    rows = {r["message_id"]: r for r in read_table(out, "messages").to_pylist() if r["conversation_id"] == "c-times"}
    assert [rows[f"t{i}"]["created_at"] for i in range(len(TIMES))] == TIMES
    assert rows["t0"]["created_at_utc"].isoformat() == "2023-11-14T22:13:20.123456+00:00"
    assert rows["t1"]["created_at_utc"].isoformat() == "1970-01-02T00:00:00.500000+00:00"
    assert rows["t2"]["created_at_utc"].isoformat() == "1969-12-31T23:59:58.500000+00:00"
    assert rows["t3"]["created_at_utc"] is None and rows["t4"]["created_at_utc"] is None
    conv = [r for r in read_table(out, "conversations").to_pylist() if r["conversation_id"] == "c-times"][0]
    assert conv["created_at_utc"] == rows["t0"]["created_at_utc"]
    assert conv["source_time"] == 1e13 and conv["source_time_utc"] is None   # its latest message time


def test_the_same_records_give_the_same_parquet_bytes(ws, tmp_path):
    ep.export_parquet(ws, tmp_path / "a", lanes=False)
    ep.export_parquet(ws, tmp_path / "b", lanes=False)
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b") != {}


def test_a_table_subset_and_unknown_tables(ws, tmp_path):
    out = tmp_path / "export"
    result = ep.export_parquet(ws, out, tables=["messages", "conversations"], lanes=False)
    assert list(result["tables"]) == ["conversations", "messages"]
    assert sorted(p.name for p in out.iterdir()) == [ep.MANIFEST_NAME, "conversations", "messages"]
    with pytest.raises(MoonshineError, match="unknown table.*nope"):
        ep.export_parquet(ws, tmp_path / "other", tables=["nope"])
    assert not (tmp_path / "other").exists()


def test_a_value_sqlite_let_through_is_a_named_error(ws, tmp_path):
    conn = connect(ws.mash_path)
    with conn:
        conn.execute("UPDATE messages SET created_at = 'yesterday' WHERE message_id = 't0'")
    conn.close()
    with pytest.raises(StoreError, match=r"messages\.created_at"):
        ep.export_parquet(ws, tmp_path / "export", lanes=False)
    assert not (tmp_path / "export").exists() and not (tmp_path / "export.partial").exists()


# -- bounded memory ------------------------------------------------------------------------------
def long_conversation(n, cid="c-long"):
    messages = [fx.msg(f"l{i}", "user" if i % 2 == 0 else "assistant", f"message {i} " + "x" * (i % 50),
                       f"l{i - 1}" if i else None, t=1_700_000_000.0 + i) for i in range(n)]
    return Conversation(conversation_id=cid, current_leaf_id=f"l{n - 1}", messages=messages)


def test_rows_stream_through_the_writer_one_bounded_batch_at_a_time(tmp_path, monkeypatch):
    n = 2_345
    ws = fx.make_mash(tmp_path / "ws", {"chatgpt": [long_conversation(n)],
                                        "claude": [long_conversation(700, "c-long-claude")]})
    monkeypatch.setattr(ep, "BATCH_ROWS", 500)
    read = {"rows": 0}
    writes = []
    real_rows, real_writer = ep._table_rows, ep._open_writer

    def counting_rows(conn, table, columns):
        for row in real_rows(conn, table, columns):
            read["rows"] += 1
            yield row

    class Watched:
        def __init__(self, path, schema):
            self.inner = real_writer(path, schema)
            self.path = path

        def write_batch(self, batch):
            # rows read from SQLite but not yet written: never more than one batch per partition
            written = sum(w[1] for w in writes if w[0] == "messages")
            writes.append((self.path.parent.parent.name, batch.num_rows, read["rows"] - written - batch.num_rows))
            self.inner.write_batch(batch)

        def close(self):
            self.inner.close()

    monkeypatch.setattr(ep, "_table_rows", counting_rows)
    monkeypatch.setattr(ep, "_open_writer", Watched)
    out = tmp_path / "export"
    ep.export_parquet(ws, out, tables=["messages"], lanes=False)
    assert read["rows"] == n + 700
    sizes = [w[1] for w in writes]
    assert max(sizes) == 500 and sum(sizes) == n + 700
    assert all(pending <= 2 * 500 for _, _, pending in writes), "more than a batch per partition was buffered"
    groups = pq.ParquetFile(out / "messages" / "provider=chatgpt" / "part-0.parquet").metadata
    assert groups.num_row_groups == math.ceil(n / 500)
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [500] * 4 + [345]


def test_a_batch_also_ends_at_its_byte_budget(tmp_path, monkeypatch):
    ws = fx.make_mash(tmp_path / "ws", {"chatgpt": [long_conversation(300)]})
    monkeypatch.setattr(ep, "BATCH_BYTES", 20_000)
    ep.export_parquet(ws, tmp_path / "export", tables=["messages"], lanes=False)
    meta = pq.ParquetFile(tmp_path / "export" / "messages" / "provider=chatgpt" / "part-0.parquet").metadata
    assert meta.num_rows == 300 and meta.num_row_groups > 1
    assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) < 300


# -- the target folder ---------------------------------------------------------------------------
def test_a_non_empty_folder_is_refused_without_overwrite(ws, tmp_path):
    out = tmp_path / "export"
    ep.export_parquet(ws, out, lanes=False)
    before = tree_hashes(out)
    with pytest.raises(RefusedError, match="not empty; pass --overwrite"):
        ep.export_parquet(ws, out, lanes=False)
    assert tree_hashes(out) == before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(RefusedError, match="holds no _moonshine_export.json"):
        ep.export_parquet(ws, other, lanes=False, overwrite=True)
    assert (other / "mine.txt").read_text() == "keep me" and sorted(os.listdir(other)) == ["mine.txt"]
    (tmp_path / "empty").mkdir()
    ep.export_parquet(ws, tmp_path / "empty", lanes=False)   # an empty folder is fine
    assert (tmp_path / "empty" / ep.MANIFEST_NAME).is_file()


def test_overwrite_swaps_in_the_complete_export_or_keeps_the_old_one(ws, tmp_path, monkeypatch):
    out = tmp_path / "export"
    ep.export_parquet(ws, out, tables=["conversations"], lanes=False)
    old = tree_hashes(out)
    old_manifest = (out / ep.MANIFEST_NAME).read_bytes()

    real_table = ep.export_table

    def fails_on_messages(conn, table, target, **kw):
        if table == "messages":
            assert (target / "conversations").is_dir()   # half written, into DIR.partial
            assert target.name == "export.partial"
            raise OSError("disk full")
        return real_table(conn, table, target, **kw)

    monkeypatch.setattr(ep, "export_table", fails_on_messages)
    with pytest.raises(OSError, match="disk full"):
        ep.export_parquet(ws, out, lanes=False, overwrite=True)
    assert tree_hashes(out) == old and (out / ep.MANIFEST_NAME).read_bytes() == old_manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "ws"]
    monkeypatch.setattr(ep, "export_table", real_table)

    swaps = []
    real_exchange = ep._exchange
    monkeypatch.setattr(ep, "_exchange", lambda a, b: swaps.append(real_exchange(a, b)) or swaps[-1])
    ep.export_parquet(ws, out, lanes=False, overwrite=True)
    assert set(json.loads((out / ep.MANIFEST_NAME).read_text())["tables"]) == set(RECORD_TABLES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "ws"]
    if sys.platform.startswith("linux"):
        assert swaps == [True], "the old export was not swapped out in one rename"

    # where no exchange exists, two renames; nothing is left beside the export either way
    monkeypatch.setattr(ep, "_exchange", lambda a, b: False)
    ep.export_parquet(ws, out, tables=["feedback"], lanes=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [ep.MANIFEST_NAME, "feedback"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "ws"]


def test_a_killed_exports_leftover_is_cleared_but_a_foreign_partial_is_not(ws, tmp_path):
    partial = tmp_path / "export.partial"
    partial.mkdir()
    (partial / ep.PARTIAL_MARKER).write_text("")
    (partial / "messages").mkdir()
    ep.export_parquet(ws, tmp_path / "export", lanes=False)
    assert not partial.exists() and (tmp_path / "export" / ep.MANIFEST_NAME).is_file()
    foreign = tmp_path / "second.partial"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    with pytest.raises(RefusedError, match="not a killed export"):
        ep.export_parquet(ws, tmp_path / "second", lanes=False)
    assert (foreign / "thesis.tex").read_text() == "mine"


def test_no_mash_is_a_one_line_error(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "moonshine.toml").write_text("")
    from moonshine_core.workspace import Workspace

    with pytest.raises(StoreError, match="no mash"):
        ep.export_parquet(Workspace.open(tmp_path / "ws"), tmp_path / "export")
    assert not (tmp_path / "export").exists()


# -- lanes ---------------------------------------------------------------------------------------
@pytest.fixture
def distilled(tmp_path):
    ws = fx.make_mash(tmp_path / "ws")
    distill(ws, lanes=["dpo"], pm=pm(), run_id="distill_a")
    distill(ws, lanes=["dpo", "conversational"], pm=pm(), run_id="distill_b")
    return ws


def load_exported_lane(folder: Path):
    from datasets import Features, load_dataset

    features = Features.from_dict(json.loads((folder / "manifest.json").read_text())["features"])
    data_files = {}
    for path in sorted((folder / "data").glob("*.parquet")):
        data_files.setdefault(path.name.split(".")[0], []).append(str(path))
    return load_dataset("parquet", data_files=data_files, features=features), features


def test_the_latest_runs_lanes_load_with_their_manifests_features(distilled, tmp_path):
    pytest.importorskip("datasets")
    out = tmp_path / "export"
    result = ep.export_parquet(distilled, out)
    lanes = result["lanes"]
    assert lanes["run_id"] == "distill_b" and sorted(lanes["lanes"]) == ["conversational", "dpo"]
    for lane, entry in lanes["lanes"].items():
        source = distilled.distill_dir(lane, "distill_b")
        manifest = json.loads((source / "manifest.json").read_text())
        assert (out / "lanes" / lane / "manifest.json").read_bytes() == (source / "manifest.json").read_bytes()
        assert entry["source"] == f"reports/distillations/{lane}/distill_b"
        assert entry["written_from"] == "parquet" and entry["matches_mash"] is True
        assert entry["rows"] == manifest["counts"]["rows"] > 0
        ds, features = load_exported_lane(out / "lanes" / lane)
        assert ds["train"].features == features
        jsonl = fx.lane_rows(distilled, lane, "distill_b")
        assert sum(len(split) for split in ds.values()) == len(jsonl)
        assert sorted(r["record_uid"] for split in ds.values() for r in split) == \
            sorted(r["record_uid"] for r in jsonl)
        for name in entry["files"]:
            copied = out / name
            assert file_sha(copied) == manifest["files"][name.removeprefix(f"lanes/{lane}/")]["sha256"]


def test_a_lane_folder_without_parquet_copies_is_converted_from_its_jsonl(distilled, tmp_path):
    pytest.importorskip("datasets")
    folder = distilled.distill_dir("conversational", "distill_b")
    manifest = json.loads((folder / "manifest.json").read_text())
    shutil.rmtree(folder / "data")   # a folder an older moonshine-core wrote: JSONL only
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("data/")}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "export"
    entry = ep.export_parquet(distilled, out)["lanes"]["lanes"]["conversational"]
    assert entry["written_from"] == "jsonl"
    expected = sorted(f"lanes/conversational/data/{n.removesuffix('.jsonl')}.parquet"
                      for n in manifest["files"] if "/" not in n)
    assert sorted(entry["files"]) == expected
    ds, features = load_exported_lane(out / "lanes" / "conversational")
    assert ds["train"].features == features
    rows = fx.lane_rows(distilled, "conversational", "distill_b")
    assert sorted(r["record_uid"] for split in ds.values() for r in split) == sorted(r["record_uid"] for r in rows)


def test_a_changed_lane_file_is_refused(distilled, tmp_path):
    folder = distilled.distill_dir("dpo", "distill_b")
    victim = next((folder / "data").glob("train.*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(StoreError, match="changed since the distill run wrote it"):
        ep.export_parquet(distilled, tmp_path / "export")
    assert not (tmp_path / "export").exists() and not (tmp_path / "export.partial").exists()


def test_lanes_from_an_older_mash_are_marked(distilled, tmp_path):
    with Store(distilled.mash_path) as store:
        store.write(fx.math_conversation("c-math-later"), fx.provenance("claude", "claude_20260201_000000"))
    entry = ep.export_parquet(distilled, tmp_path / "export")["lanes"]["lanes"]["dpo"]
    assert entry["matches_mash"] is False


# -- the CLI -------------------------------------------------------------------------------------
def test_cli_json_after_the_subcommand_and_refusals_as_json(ws, tmp_path):
    out = tmp_path / "export"
    runner = CliRunner()
    done = runner.invoke(cli, ["export", "parquet", str(out), "--json", "-w", str(ws.root), "--no-lanes",
                               "--tables", "messages,feedback"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["out_dir"] == str(out) and set(data["tables"]) == {"messages", "feedback"}
    assert data["tables"]["messages"]["by_provider"] == dict(sorted(mash_counts(ws, "messages").items()))
    assert data["lanes"] is None
    again = runner.invoke(cli, ["--json", "export", "parquet", str(out), "-w", str(ws.root)])
    assert again.exit_code == 1 and again.stdout == ""
    error = json.loads(again.stderr)
    assert error["kind"] == "RefusedError" and "--overwrite" in error["error"]
    between = runner.invoke(cli, ["export", "--json", "parquet", str(out), "--overwrite", "-w", str(ws.root)])
    assert between.exit_code == 0, between.output
    assert set(json.loads(between.stdout)["tables"]) == set(RECORD_TABLES)
    text = runner.invoke(cli, ["-w", str(ws.root), "export", "parquet", str(tmp_path / "t"), "--no-lanes"])
    assert text.exit_code == 0 and text.stdout.startswith(f"exported to {tmp_path / 't'}")
    assert "records_check unrecorded" in text.stdout


# -- docs/scale-out.md, run as written ---------------------------------------------------------
DOC = ROOT / "docs" / "scale-out.md"
BLOCK = re.compile(r"```(python|sql)\n(.*?)```", re.DOTALL)


def doc_blocks(kind):
    return [code for lang, code in BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == kind]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    samples = make_plugin_manager().sample_exports()
    if not {"chatgpt", "claude"} <= set(samples):
        pytest.skip("the provider plugins (and their samples) are not installed")
    pytest.importorskip("duckdb")
    here = tmp_path_factory.mktemp("scale-out")
    before = os.getcwd()
    os.chdir(here)
    try:
        scope: dict = {}
        exec(compile(doc_blocks("python")[0], str(DOC), "exec"), scope)
        yield here
    finally:
        os.chdir(before)


def run_sql(pool, query):
    import duckdb

    before = os.getcwd()
    os.chdir(pool)
    try:
        return duckdb.connect().sql(query).fetchall()
    finally:
        os.chdir(before)


def pool_counts(pool, table):
    from moonshine_core.workspace import Workspace

    return {person: mash_counts(Workspace.open(pool / person), table) for person in ("alice", "bob")}


def test_the_doc_exports_two_workspaces(pool):
    for person in ("alice", "bob"):
        manifest = json.loads((pool / "pool" / f"workspace={person}" / ep.MANIFEST_NAME).read_text())
        assert manifest["workspace"] == str(pool / person)
        assert manifest["mash"]["records_check"] == "ok"   # a demo merges through the lifecycle
        assert manifest["lanes"]["run_id"] and all(e["matches_mash"] for e in manifest["lanes"]["lanes"].values())


def test_the_docs_sql_counts_messages_per_provider_per_workspace(pool):
    queries = doc_blocks("sql")
    assert len(queries) == 4
    got = run_sql(pool, queries[0])
    expected = pool_counts(pool, "messages")
    assert got == [(person, provider, n) for person in ("alice", "bob") for provider, n in
                   sorted(expected[person].items())]


def test_the_docs_join_of_messages_to_conversations(pool):
    got = run_sql(pool, doc_blocks("sql")[1])
    from moonshine_core.workspace import Workspace

    for person in ("alice", "bob"):
        conn = connect(Workspace.open(pool / person).mash_path, readonly=True)
        try:
            expected = conn.execute(
                "SELECT c.provider, c.conversation_id, c.title, count(*), min(m.created_at) FROM messages m "
                "JOIN conversations c ON c.record_uid = m.conversation_uid "
                "GROUP BY c.record_uid ORDER BY c.provider, c.conversation_id").fetchall()
        finally:
            conn.close()
        mine = [row[1:] for row in got if row[0] == person]
        assert [row[:4] for row in mine] == [row[:4] for row in expected]
        for (*_, first), (*_, seconds) in zip(mine, expected):
            assert (first is None) == (seconds is None)
            if seconds is not None:
                assert first.timestamp() == pytest.approx(seconds, abs=1e-6)


def test_the_docs_distinct_uids_and_pooled_lanes(pool):
    rows, distinct = run_sql(pool, doc_blocks("sql")[2])[0]
    conversations = pool_counts(pool, "conversations")
    assert rows == sum(sum(c.values()) for c in conversations.values())
    assert distinct == sum(conversations["alice"].values())   # two demos of the same samples: the same uids
    lanes = run_sql(pool, doc_blocks("sql")[3])
    for person in ("alice", "bob"):
        manifest = json.loads((pool / "pool" / f"workspace={person}" / "lanes" / "conversational" /
                               "manifest.json").read_text())
        per_split = {}
        for (ws_name, provider, split, n) in lanes:
            if ws_name == person:
                per_split[(provider, split)] = n
        assert sum(per_split.values()) == manifest["counts"]["rows"] > 0
        assert {p: sum(n for (q, _), n in per_split.items() if q == p) for p, _ in per_split} == \
            manifest["counts"]["by_provider"]


def test_the_docs_python_reads_the_pool_with_pyarrow_and_datasets(pool, capsys):
    pytest.importorskip("datasets")
    before = os.getcwd()
    os.chdir(pool)
    try:
        scope: dict = {}
        exec(compile(doc_blocks("python")[1], str(DOC), "exec"), scope)
    finally:
        os.chdir(before)
    expected = pool_counts(pool, "messages")
    assert scope["counts"].sort_by([("workspace", "ascending"), ("provider", "ascending")]).to_pylist() == [
        {"workspace": person, "provider": provider, "record_uid_count": n}
        for person in ("alice", "bob") for provider, n in sorted(expected[person].items())]
    lane = json.loads((pool / "pool" / "workspace=alice" / "lanes" / "conversational" / "manifest.json").read_text())
    assert scope["conversational"]["train"].num_rows == lane["counts"]["by_split"]["train"]
    assert str(lane["counts"]["by_split"]["train"]) in capsys.readouterr().out
    assert len(glob.glob(str(pool / "pool" / "*" / "messages" / "*" / "*.parquet"))) == len(scope["files"])
