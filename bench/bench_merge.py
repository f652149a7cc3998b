"""Benchmark: archive + merge and re-merge against their SQL floors, with peak RSS per step.

    .venv/bin/python bench/bench_merge.py --conversations 6000 --repeats 3

Generates a ChatGPT export with ``bench_ingest.write_export`` (plus a second, smaller export
with its own conversation ids), ingests both once into a template workspace, then runs each
step ``--repeats`` times, alternating, every step in a fresh child process on a fresh copy of
the template (timed inside the child, after its imports):

- ``archive+merge``: ``archive_run`` + ``merge_run`` of the large run into a fresh mash;
- ``floor``: an empty DB with the mash schema (record tables and the search index), the
  archived run DB ATTACHed, ``INSERT INTO main.t SELECT … FROM run.t`` for every record table,
  one transaction (``floor-nofts``: the same without the search index, for information);
- ``re-merge``: ``merge_run`` of the same run again (changes nothing);
- ``keyed-noop``: the run DB ATTACHed to the merged mash, every run row joined to the mash row
  of its ``record_uid``, rows whose ``content_sha256`` differs counted;
- ``second``: ``archive_run`` + ``merge_run`` of the second run into the mash holding the large
  one; ``second-floor``: the floor of that run alone (into an empty DB).

Prints medians, peak RSS (``ru_maxrss`` of the child) and the ratios the performance issue
sets goals for. Numbers go in docs/benchmarks.md, not in tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import write_export

CHILD = r"""
import json, resource, sys, time
step, ws_dir, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
from moonshine_core.workspace import Workspace
import apsw
from moonshine_core.store.schema import RECORD_TABLES

def attach_floor(db_path, run_db, fts):
    from moonshine_core.store import Store
    from moonshine_core import search
    store = Store(db_path)
    if fts:
        with store.conn:
            search.install(store.conn)
    conn = store.conn
    t = time.perf_counter()
    conn.execute("ATTACH DATABASE ? AS run", ("file:" + run_db + "?mode=ro&immutable=1",))
    with conn:
        for table in RECORD_TABLES:
            cols = ", ".join(r[1] for r in conn.execute(f"pragma run.table_info({table})") if r[1] != "rev")
            conn.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM run.{table}")
    conn.execute("DETACH DATABASE run")
    store.close()
    return time.perf_counter() - t

ws = Workspace.open(ws_dir)
out = {}
if step == "ingest":
    from moonshine_core.ingest import ingest
    t = time.perf_counter()
    r = ingest(args["export"], "chatgpt", workspace=ws)
    out = {"run_id": r.run_id, "db": str(ws.run_db_path("chatgpt", r.run_id))}
elif step in ("archive+merge", "second"):
    from moonshine_core.archive import archive_run
    from moonshine_core.merge import merge_run
    t = time.perf_counter()
    archive_run(ws, args["run_id"])
    out["archive_seconds"] = time.perf_counter() - t
    result = merge_run(ws, args["run_id"])
    assert not result.failed_gates, result.gates
    out["counts"] = result.entry["counts"]
elif step == "re-merge":
    from moonshine_core.merge import merge_run
    t = time.perf_counter()
    result = merge_run(ws, args["run_id"])
    assert not result.failed_gates, result.gates
    assert result.entry["action"] == "remerge"
elif step in ("floor", "floor-nofts", "second-floor"):
    t = time.perf_counter()
    seconds = attach_floor(args["target"], args["run_db"], fts=step != "floor-nofts")
    t = time.perf_counter() - seconds
elif step == "keyed-noop":
    from moonshine_core.store.db import connect
    conn = connect(ws.mash_path, readonly=True)
    t = time.perf_counter()
    conn.execute("ATTACH DATABASE ? AS run", ("file:" + args["run_db"] + "?mode=ro&immutable=1",))
    differ = 0
    for table in RECORD_TABLES:
        differ += conn.execute(f"SELECT count(*) FROM run.{table} AS r LEFT JOIN main.{table} AS m "
                               "ON m.record_uid = r.record_uid WHERE m.content_sha256 IS NOT r.content_sha256").get
    out["differ"] = differ
    conn.close()
else:
    raise SystemExit(f"unknown step {step}")
out["seconds"] = time.perf_counter() - t
out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def child(step: str, ws: Path, **args: object) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, step, str(ws), json.dumps(args)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def second_export(path: Path, n: int) -> None:
    """An export of ``n`` conversations whose ids are all new (a different account or month)."""
    write_export(path, n)
    path.write_text(path.read_text(encoding="utf-8").replace('"conv-', '"conx-'), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=6000)
    parser.add_argument("--second", type=int, default=300, help="conversations of the second run (step e)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", help="build the template here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-merge-"))
    tmp.mkdir(parents=True, exist_ok=True)
    template = tmp / "template"
    exports = tmp / "exports"
    if not template.exists():
        exports.mkdir(exist_ok=True)
        big, small = exports / "big" / "conversations.json", exports / "small" / "conversations.json"
        big.parent.mkdir(exist_ok=True)
        small.parent.mkdir(exist_ok=True)
        write_export(big, args.conversations)
        second_export(small, args.second)
        first = child("ingest", template, export=str(big))
        other = child("ingest", template, export=str(small))
        (tmp / "runs.json").write_text(json.dumps({"big": first, "small": other}))
    runs = json.loads((tmp / "runs.json").read_text())
    big_run, small_run = runs["big"], runs["small"]
    export_mb = sum(p.stat().st_size for p in exports.rglob("conversations.json") if "big" in str(p)) / 1e6
    run_db_mb = Path(big_run["db"]).stat().st_size / 1e6
    print(f"export {export_mb:.0f} MB, run DB {run_db_mb:.0f} MB, second run {args.second} conversations")
    results: dict[str, list[dict]] = {}
    for rep in range(args.repeats):
        ws = tmp / f"ws{rep}"
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(template, ws)
        floor_dir = tmp / f"floor{rep}"
        shutil.rmtree(floor_dir, ignore_errors=True)
        floor_dir.mkdir()
        run_db = str(Path(big_run["db"].replace(str(template), str(ws))))
        small_db = str(Path(small_run["db"].replace(str(template), str(ws))))
        order = [("archive+merge", {}), ("floor", {"target": str(floor_dir / "floor.db"), "run_db": run_db}),
                 ("re-merge", {}), ("keyed-noop", {"run_db": run_db}), ("second", {"run_id": small_run["run_id"]}),
                 ("second-floor", {"target": str(floor_dir / "second.db"), "run_db": small_db}),
                 ("floor-nofts", {"target": str(floor_dir / "nofts.db"), "run_db": run_db})]
        if rep % 2:  # alternate which of a pair goes first
            order[0], order[1] = order[1], order[0]
            order[2], order[3] = order[3], order[2]
        for step, extra in order:
            extra.setdefault("run_id", big_run["run_id"])
            r = child(step, ws, **extra)
            results.setdefault(step, []).append(r)
            print(f"  rep {rep} {step:<14} {r['seconds']:7.2f} s  {r['maxrss_mb']:6.0f} MB"
                  + (f"  (archive {r['archive_seconds']:.2f} s)" if "archive_seconds" in r else ""), flush=True)
        shutil.rmtree(ws)
        shutil.rmtree(floor_dir)

    def med(step: str, key: str = "seconds") -> float:
        return statistics.median(r[key] for r in results[step])

    print(f"\n{'step':<16} {'median s':>9} {'peak RSS MB':>12}")
    for step, runs_of_step in results.items():
        print(f"{step:<16} {med(step):>9.2f} {max(r['maxrss_mb'] for r in runs_of_step):>12.0f}")
    print("\nratios (medians)")
    print(f"  archive+merge / floor          {med('archive+merge') / med('floor'):6.2f}  (goal <= 2)")
    print(f"  archive+merge / floor-nofts    {med('archive+merge') / med('floor-nofts'):6.2f}")
    print(f"  re-merge / keyed no-op         {med('re-merge') / med('keyed-noop'):6.2f}  (goal <= 2)")
    print(f"  second / second-floor          {med('second') / med('second-floor'):6.2f}")
    print(f"  second / archive+merge         {med('second') / med('archive+merge'):6.2f}  "
          f"(the change is {args.second / args.conversations:.0%} of the corpus)")
    if not args.keep:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
