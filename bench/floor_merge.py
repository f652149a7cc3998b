"""The merge floors: what moving a run's rows into the mash, or checking that nothing changed, costs in SQL alone.

    .venv/bin/python bench/floor_merge.py insert RUN_DB SCRATCH_DIR   # INSERT ... SELECT into an empty mash
    .venv/bin/python bench/floor_merge.py noop RUN_DB MASH            # keyed no-op check against a mash

``insert`` creates an empty mash the way Moonshine does (``moonshine_core.mash.ensure_mash`` on a
scratch workspace: the same schema, search index and triggers), ATTACHes the run DB read-only
and copies every record table (``RECORD_TABLES``, parents first, every column but the mash's own
``rev``) with one ``INSERT INTO main.t SELECT ... FROM run.t`` each, in one transaction.

``noop`` joins every record table of the run DB to the mash by ``record_uid`` and counts the rows
that are missing or whose ``content_sha256`` differs: the least a re-merge that changes nothing
has to do. Both print one JSON line; both use APSW, the SQLite Moonshine uses.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _columns(conn, schema: str, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"pragma {schema}.table_info({table})") if r[1] != "rev"]


def insert_floor(run_db: str, scratch: str) -> dict:
    import apsw

    from moonshine_core.mash import ensure_mash
    from moonshine_core.store.schema import RECORD_TABLES
    from moonshine_core.workspace import Workspace

    ws = Workspace.open(scratch)
    Path(scratch).mkdir(parents=True, exist_ok=True)
    mash = ensure_mash(ws)
    t0 = time.perf_counter()
    conn = apsw.Connection(str(mash), flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_URI)
    conn.execute("ATTACH DATABASE ? AS run", (f"file:{run_db}?mode=ro&immutable=1",))
    rows = {}
    with conn:
        for table in RECORD_TABLES:
            cols = ", ".join(_columns(conn, "run", table))
            conn.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM run.{table} ORDER BY rowid")
            rows[table] = conn.changes()
    conn.execute("DETACH DATABASE run")
    conn.close()
    return {"mode": "insert", "rows": rows, "seconds": time.perf_counter() - t0}


def noop_floor(run_db: str, mash: str) -> dict:
    import apsw

    from moonshine_core.store.schema import RECORD_TABLES

    t0 = time.perf_counter()
    conn = apsw.Connection(f"file:{mash}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    conn.execute("ATTACH DATABASE ? AS run", (f"file:{run_db}?mode=ro&immutable=1",))
    differing = {}
    for table in RECORD_TABLES:
        (n,) = conn.execute(
            f"SELECT count(*) FROM run.{table} AS r LEFT JOIN main.{table} AS m ON m.record_uid = r.record_uid "
            f"WHERE m.record_uid IS NULL OR m.content_sha256 != r.content_sha256").fetchone()
        differing[table] = n
    conn.close()
    return {"mode": "noop", "differing": differing, "seconds": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("insert", "noop"))
    parser.add_argument("run_db")
    parser.add_argument("target", help="scratch folder (insert) or the mash (noop)")
    args = parser.parse_args()
    result = insert_floor(args.run_db, args.target) if args.mode == "insert" else noop_floor(args.run_db, args.target)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
