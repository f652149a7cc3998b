"""Benchmark: `moonshine search` latency on a mash built from a generated ChatGPT-shaped export.

    .venv/bin/python bench/bench_search.py --conversations 20000

Writes the export with bench_ingest's generator, ingests, archives and merges it into a
throwaway workspace (the merge builds the FTS5 index through its triggers), then times each
query as the CLI runs it (:func:`moonshine_core.search.search`: open the mash read-only, MATCH,
join, snippet) five times and prints the median and the slowest, plus the merge time and the
size the index adds. The generator (bench/generate_export.py) draws words Zipf-distributed behind
a head of common English words, so common words match a large share of the messages: a hard case
for ranking, not a flattering one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_ingest import write_export

QUERIES = ("python", "merge table", "data file code", "KeyError traceback", "nothing-matches-this")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from moonshine_core.archive import archive_run
    from moonshine_core.ingest import ingest
    from moonshine_core.merge import merge_run
    from moonshine_core.search import FTS_TABLE, search
    from moonshine_core.store.db import connect
    from moonshine_core.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "conversations.json"
        write_export(export, args.conversations)
        ws = Workspace.open(Path(tmp) / "ws")
        run = ingest(export, "chatgpt", workspace=ws)
        archive_run(ws, run.run_id)
        started = time.perf_counter()
        merge_run(ws, run.run_id)
        merged = time.perf_counter() - started
        conn = connect(ws.mash_path, readonly=True)
        messages = conn.execute("SELECT count(*) FROM messages").get
        index_bytes = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE ?", (f"{FTS_TABLE}%",)).get
        conn.close()
        print(f"export {export.stat().st_size / 1e6:.0f} MB, {messages:,} messages, merge {merged:.1f} s, "
              f"mash {ws.mash_path.stat().st_size / 1e6:.0f} MB of which index {(index_bytes or 0) / 1e6:.0f} MB")
        print(f"{'query':<24} {'hits':>5} {'median ms':>10} {'max ms':>8}")
        for query in QUERIES:
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                hits = search(ws, query, limit=20)
                times.append((time.perf_counter() - t) * 1000)
            print(f"{query:<24} {len(hits):>5} {statistics.median(times):>10.1f} {max(times):>8.1f}")


if __name__ == "__main__":
    main()
