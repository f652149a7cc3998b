"""Dump (or compare) the rows that ingesting every real export produces.

A refactor that must not change what Moonshine stores is checked with it: dump
before the change, dump after, compare. Rows are keyed by ``record_uid`` and
hold every column except the per-run ones (run id, ingest time, source path),
so a renamed id, a changed text or a lost message all show.

    .venv/bin/python bench/dump_rows.py --out /tmp/before.json
    # ... change the code ...
    .venv/bin/python bench/dump_rows.py --out /tmp/after.json --compare /tmp/before.json

It also merges every export into one mash and distils it, and dumps each lane's
row ids. ``--compare`` prints, table by table and lane by lane, the rows added,
removed and changed, and exits 1 when any message row differs (other tables and
lanes are reported, not failed: regeneration comparisons may change on purpose). The dump holds hashes and
ids of public real exports read from ``../shared/real-exports``; keep it out of
the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from moonshine_core.errors import MoonshineError
from moonshine_core.ingest import ingest
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.store import Store
from moonshine_core.testing import real_exports_dir
from moonshine_core.workspace import Workspace

TABLES = ("conversations", "messages", "tool_events", "feedback", "comparisons", "side_records")
PER_RUN = {"provider_run_id", "ingested_at", "source_path", "source_kind"}


def dump(real: Path) -> dict[str, dict[str, dict[str, str]]]:
    """``{file: {table: {record_uid: sha256 of the row's other columns}}}`` plus full message rows."""
    pm = make_plugin_manager()
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp))
        for path in sorted(p for p in real.rglob("*") if p.is_file() and p.name != "README.md"):
            key = f"{path.parent.name}/{path.name}"
            try:
                result = ingest(path, workspace=ws, pm=pm)
            except MoonshineError as exc:
                out[key] = {"refused": str(exc).replace(str(path), path.name)}
                continue
            store = Store(Path(result.db_path), create=False)
            try:
                tables: dict[str, dict] = {}
                for table in TABLES:
                    rows = {}
                    for row in store.rows(f"SELECT * FROM {table} ORDER BY record_uid"):
                        kept = {k: v for k, v in row.items() if k not in PER_RUN}
                        blob = json.dumps(kept, sort_keys=True, default=str)
                        rows[row["record_uid"]] = (blob if table == "messages"
                                                   else hashlib.sha256(blob.encode()).hexdigest())
                    tables[table] = rows
                out[key] = tables
            finally:
                store.close()
    return out


def dump_lanes(real: Path) -> dict[str, dict[str, str]]:
    """Every real export ingested, archived and merged into one mash, then distilled (``--mix``):
    ``{lane: {record_uid: content_sha256}}``."""
    from moonshine_core.archive import archive_run
    from moonshine_core.distill import distill
    from moonshine_core.merge import merge_run

    pm = make_plugin_manager()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp))
        for path in sorted(p for p in real.rglob("*") if p.is_file() and p.name != "README.md"):
            try:
                result = ingest(path, workspace=ws, pm=pm)
            except MoonshineError:
                continue
            archive_run(ws, result.run_id)
            merge_run(ws, result.run_id)
        result = distill(ws, pm=pm, run_id="distill_dump", mix=True)
        out: dict[str, dict[str, str]] = {}
        for lane, lane_result in result.lanes.items():
            rows: dict[str, str] = {}
            for name in sorted(Path(lane_result.folder).glob("*.jsonl")):
                if name.name.split(".")[1] == "mix":
                    continue
                for line in name.read_text(encoding="utf-8").split("\n"):
                    if not line:
                        continue
                    row = json.loads(line)
                    rows[row["record_uid"]] = f"{row['provider']} {row.get('pair_source') or ''} {row['content_sha256']}"
            out[lane] = rows
    return out


def compare_lanes(before: dict, after: dict) -> None:
    """Print lane rows added, removed or changed."""
    for lane in sorted(set(before) | set(after)):
        b, a = before.get(lane, {}), after.get(lane, {})
        for label, uids in (("added", sorted(set(a) - set(b))), ("removed", sorted(set(b) - set(a))),
                            ("changed", sorted(u for u in set(a) & set(b) if a[u] != b[u]))):
            for uid in uids:
                print(f"lane {lane} {label}: {uid[:16]} {a.get(uid) or b.get(uid)}")
        print(f"lane {lane}: {len(b)} rows before, {len(a)} after")


def compare(before: dict, after: dict) -> bool:
    """Print the differences; True when every message row is the same."""
    messages_same = True
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if b is None or a is None or "refused" in b or "refused" in a:
            print(f"{key}: before {'absent' if b is None else b.get('refused', 'ingested')!s:.80} / "
                  f"after {'absent' if a is None else a.get('refused', 'ingested')!s:.80}")
            messages_same = False
            continue
        for table in TABLES:
            tb, ta = b.get(table, {}), a.get(table, {})
            added = sorted(set(ta) - set(tb))
            removed = sorted(set(tb) - set(ta))
            changed = sorted(u for u in set(ta) & set(tb) if ta[u] != tb[u])
            if added or removed or changed:
                print(f"{key} {table}: +{len(added)} -{len(removed)} ~{len(changed)}")
                if table == "messages":
                    messages_same = False
                    for uid in changed[:3]:
                        rb, ra = json.loads(tb[uid]), json.loads(ta[uid])
                        diff = {k: (rb.get(k), ra.get(k)) for k in set(rb) | set(ra) if rb.get(k) != ra.get(k)}
                        print(f"    {uid[:12]}: {json.dumps(diff, default=str)[:400]}")
    return messages_same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where to write this dump (JSON)")
    parser.add_argument("--compare", help="an earlier dump to compare with")
    args = parser.parse_args()
    real = real_exports_dir(start=__file__)
    if real is None:
        print("no real exports found (../shared/real-exports)", file=sys.stderr)
        return 2
    current = {"files": dump(real), "lanes": dump_lanes(real)}
    Path(args.out).write_text(json.dumps(current, sort_keys=True), encoding="utf-8")
    print(f"{len(current['files'])} files and {len(current['lanes'])} lanes dumped to {args.out}")
    if args.compare:
        earlier = json.loads(Path(args.compare).read_text(encoding="utf-8"))
        same = compare(earlier["files"], current["files"])
        compare_lanes(earlier["lanes"], current["lanes"])
        print("message rows: " + ("identical" if same else "DIFFERENT"))
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
