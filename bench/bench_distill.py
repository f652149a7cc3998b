"""Benchmark: distill throughput (conversations/s), full and incremental, against a baseline tree.

    .venv/bin/python bench/bench_distill.py --size-mb 10
    git archive HEAD moonshine_core | tar -x -C /tmp/base      # the code to compare with
    .venv/bin/python bench/bench_distill.py --size-mb 10 --baseline /tmp/base --runs 3

Builds a mash from bench/generate_export.py's realistic ChatGPT export (ingest, archive, merge),
then, in fresh subprocesses on fresh copies of the workspace and alternating between the code
under test and the baseline (``--baseline``: a folder holding another ``moonshine_core``, put
first on ``PYTHONPATH``), times ``moonshine_core.distill.distill``:

- ``full``: every conversation distilled (``use_cache=False``; the baseline has no cache);
- ``incremental``: the workspace is distilled once (the row cache fills), a re-export with
  ``--changed`` of its conversations edited is run into it (ingest, archive, merge), and the
  distill after it is timed (code under test only; all in one process, untimed but the last).

Prints the median of ``--runs`` for each, conversations/s and the ratios. The machine is shared
and noisy: quote ratios measured in one run, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = r"""
import inspect, json, shutil, sys, tempfile, time
from pathlib import Path
from moonshine_core.distill import distill
from moonshine_core.workspace import Workspace
src, use_cache, changed = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]
tmp = Path(tempfile.mkdtemp(prefix="bench-distill-"))
try:
    shutil.copytree(src, tmp / "ws", symlinks=True)
    ws = Workspace.open(tmp / "ws")
    kwargs = {"use_cache": use_cache} if "use_cache" in inspect.signature(distill).parameters else {}
    if changed:
        # Warm the cache and run the re-export in this process: the cache is keyed by a hash of
        # the source, which another process may see edited.
        from moonshine_core.archive import archive_run
        from moonshine_core.ingest import ingest
        from moonshine_core.merge import merge_run
        distill(ws, run_id="distill_warm", **kwargs)
        run = ingest(changed[0], provider="chatgpt", workspace=ws)
        archive_run(ws, run.run_id)
        merge_run(ws, run.run_id)
    started = time.perf_counter()
    result = distill(ws, run_id="distill_bench", **kwargs)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "conversations": result.conversations,
                      "rows": {k: v.rows for k, v in result.lanes.items()},
                      "misses": {k: getattr(v, "cache_misses", None) for k, v in result.lanes.items()}}))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
"""


def _run_export(ws_root: Path, export: Path) -> None:
    from moonshine_core.archive import archive_run
    from moonshine_core.ingest import ingest
    from moonshine_core.merge import merge_run
    from moonshine_core.workspace import Workspace

    ws = Workspace.open(ws_root)
    run = ingest(export, provider="chatgpt", workspace=ws)
    archive_run(ws, run.run_id)
    merge_run(ws, run.run_id)


def _distill(ws_root: Path, *, use_cache: bool, pythonpath: str | None, changed: Path | None = None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    # Run from a neutral folder so that the working directory never shadows PYTHONPATH.
    argv = [sys.executable, "-c", CHILD, str(ws_root), "1" if use_cache else "0"] + ([str(changed)] if changed else [])
    out = subprocess.run(argv, env=env,
                         cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=10.0, help="generated export size (MB)")
    parser.add_argument("--changed", type=float, default=0.05, help="fraction of conversations the re-export edits")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="a folder holding the moonshine_core to compare with")
    parser.add_argument("--keep", help="build the workspaces here and keep them (default: a temporary folder)")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from generate_export import write_changed_export, write_export

    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-distill-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        export, changed = scratch / "conversations.json", scratch / "changed.json"
        write_export(export, args.size_mb)
        write_changed_export(export, changed, fraction=args.changed)
        base_ws = scratch / "ws"
        shutil.rmtree(base_ws, ignore_errors=True)
        _run_export(base_ws, export)

        times: dict[str, list[float]] = {"full": [], "baseline full": [], "incremental": []}
        info: dict[str, dict] = {}
        for _ in range(args.runs):
            for label, cache, path, change in (("full", False, str(ROOT), None),
                                               ("baseline full", False, args.baseline, None),
                                               ("incremental", True, str(ROOT), changed)):
                if label.startswith("baseline") and not args.baseline:
                    continue
                result = _distill(base_ws, use_cache=cache, pythonpath=path, changed=change)
                times[label].append(result["seconds"])
                info[label] = result
        print(f"export {export.stat().st_size / 1e6:.1f} MB, {info['full']['conversations']} conversations; "
              f"median of {args.runs} alternating runs")
        print(f"{'distill':<16}{'median s':>10}{'conv/s':>10}  re-distilled")
        for label, values in times.items():
            if not values:
                continue
            median = statistics.median(values)
            misses = info[label]["misses"]
            redone = max((m for m in misses.values() if m is not None), default=None)
            print(f"{label:<16}{median:>10.2f}{info[label]['conversations'] / median:>10.1f}  "
                  f"{'all' if redone is None or not label.startswith('incremental') else redone}")
        if times["baseline full"]:
            print(f"full: baseline / now = {statistics.median(times['baseline full']) / statistics.median(times['full']):.2f}x")
        print(f"incremental vs full (now): {statistics.median(times['full']) / statistics.median(times['incremental']):.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
