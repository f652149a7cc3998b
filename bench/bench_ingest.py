"""Benchmark: ingest throughput and peak memory on generated ChatGPT-shaped exports.

    .venv/bin/python bench/bench_ingest.py --conversations 2000 8000

For each size it writes a realistic single-line conversations.json with bench/generate_export.py
(about 38 KB and 17 messages per conversation; see that module), ingests it
in a fresh subprocess into a throwaway workspace, and prints size, wall time, MB/s,
conversations/s, tokens/s and peak RSS (ru_maxrss). Needs the moonshine-chatgpt plugin.
Numbers go in notes, not tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from generate_export import BYTES_PER_CONVERSATION
from generate_export import write_export as _write_sized


def write_export(path: Path, n: int, seed: int = 1) -> None:
    """A realistic generated export of about ``n`` conversations (bench/generate_export.py)."""
    _write_sized(path, n * BYTES_PER_CONVERSATION / 1e6, seed)


CHILD = """
import json, resource, sys, time
from moonshine_core.ingest import ingest
from moonshine_core.workspace import Workspace
t = time.perf_counter()
r = ingest(sys.argv[1], "chatgpt", workspace=Workspace.open(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - t, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "conversations": r.manifest["counts"]["db_rows"]["conversations"],
                  "messages": r.manifest["counts"]["db_rows"]["messages"],
                  "tokens": r.manifest["tokens"]["headline_non_system"], "phases": r.manifest["timings"]["seconds"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, nargs="+", default=[2000, 8000])
    args = parser.parse_args()
    print(f"{'convs':>7} {'MB':>7} {'sec':>7} {'MB/s':>6} {'conv/s':>7} {'tok/s':>9} {'peak MB':>8}  phases")
    for n in args.conversations:
        with tempfile.TemporaryDirectory() as tmp:
            export = Path(tmp) / "conversations.json"
            write_export(export, n)
            size_mb = export.stat().st_size / 1e6
            out = subprocess.run([sys.executable, "-c", CHILD, str(export), str(Path(tmp) / "ws")],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{n:>7} {size_mb:>7.1f} {r['seconds']:>7.2f} {size_mb / r['seconds']:>6.1f} "
                  f"{r['conversations'] / r['seconds']:>7.0f} {r['tokens'] / r['seconds']:>9.0f} "
                  f"{r['maxrss_kb'] / 1024:>8.0f}  {r['phases']}")


if __name__ == "__main__":
    main()
