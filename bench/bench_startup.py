"""How long commands take to start: ``moonshine --help`` and ``moonshine preflight`` of a small sample.

Every command loads the plugin manager (built-in plugins and every installed
provider plugin) before it does anything, so start-up time is paid by every
call. Runs each command ``--runs`` times and prints the best and median wall
time (best is the least disturbed by a busy machine)::

    .venv/bin/python bench/bench_startup.py --runs 9

and, for what the time goes to, ``python -X importtime -c "from moonshine_core.plugins import
make_plugin_manager; make_plugin_manager()" 2>&1 | sort -t'|' -k2 -n | tail``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "moonshine")
    sample = sorted((ROOT / "plugins" / "moonshine_qwen" / "moonshine_qwen" / "samples").glob("*.json"))[0]
    for label, argv in (("moonshine --help", [exe, "--help"]),
                        ("moonshine preflight <qwen sample>", [exe, "preflight", str(sample)])):
        times = timed(argv, args.runs)
        print(f"{label:<36} best {min(times):.3f} s  median {statistics.median(times):.3f} s  ({args.runs} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
