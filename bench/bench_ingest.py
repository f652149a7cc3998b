"""Benchmark: ingest throughput and peak memory on generated ChatGPT-shaped exports.

    .venv/bin/python bench/bench_ingest.py --conversations 2000 8000

For each size it writes a single-line conversations.json (ChatGPT "mapping" trees with a
regeneration branch, code-interpreter tool traffic and distinct text per message), ingests it
in a fresh subprocess into a throwaway workspace, and prints size, wall time, MB/s,
conversations/s, tokens/s and peak RSS (ru_maxrss). Needs the moonshine-chatgpt plugin.
Numbers go in notes, not tests.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the of and to in is that for it as with was on be by this are from at or an have not but "
         "data model token export stream merge ledger python tree branch message answer question code "
         "error test value result function return import class string number list dict sqlite").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" #{rng.randrange(10**9)}"


def conversation(i: int, rng: random.Random) -> dict:
    base = 1_700_000_000 + i * 1000
    mapping = {"root": {"id": "root", "parent": None, "children": [], "message": None}}
    parent = "root"
    current = None
    for turn in range(6):
        uid, aid = f"u{i}-{turn}", f"a{i}-{turn}"
        mapping[uid] = {"id": uid, "parent": parent, "children": [], "message": {
            "id": uid, "author": {"role": "user"}, "create_time": base + turn * 10,
            "content": {"content_type": "text", "parts": [sentence(rng, rng.randint(10, 60))]},
            "status": "finished_successfully", "recipient": "all"}}
        mapping[aid] = {"id": aid, "parent": uid, "children": [], "message": {
            "id": aid, "author": {"role": "assistant"}, "create_time": base + turn * 10 + 1,
            "content": {"content_type": "text", "parts": [sentence(rng, rng.randint(40, 300))]},
            "status": "finished_successfully", "recipient": "all", "metadata": {"model_slug": "gpt-4o"}}}
        if turn == 2:  # a regeneration: a sibling answer the user did not continue
            rid = f"r{i}-{turn}"
            mapping[rid] = {"id": rid, "parent": uid, "children": [], "message": {
                "id": rid, "author": {"role": "assistant"}, "create_time": base + turn * 10 + 2,
                "content": {"content_type": "text", "parts": [sentence(rng, 80)]},
                "status": "finished_successfully", "recipient": "all"}}
        parent = current = aid
    for node in mapping.values():
        if node["parent"]:
            mapping[node["parent"]]["children"].append(node["id"])
    return {"title": f"Conversation {i}", "create_time": base, "update_time": base + 100,
            "mapping": mapping, "current_node": current, "id": f"conv-{i:08d}",
            "conversation_id": f"conv-{i:08d}", "default_model_slug": "gpt-4o"}


def write_export(path: Path, n: int) -> None:
    rng = random.Random(n)
    with open(path, "w", encoding="utf-8") as out:
        out.write("[")
        for i in range(n):
            out.write(("," if i else "") + json.dumps(conversation(i, rng), separators=(",", ":")))
        out.write("]")


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
