"""The whole-lifecycle benchmark of issue #15: Moonshine against its floors and chatgpt-to-sqlite.

    .venv/bin/python bench/bench_all.py --size-mb 25 250 --repeat 3 [--json OUT] [--keep DIR]

For each size it generates a fresh export (bench/generate_export.py) and its 5%-changed
re-export, then runs, in one session and round-robin across the repeats (every work once per
round, so machine load hits all of them alike):

- ``floor 1 proc`` / ``floor all cores``: bench/floor_tokens.py (ijson + exact o200k counts of
  the texts Moonshine counts), in one process and with ``os.cpu_count()`` tokeniser processes;
- ``chatgpt-to-sqlite``: chatgpt-to-sqlite 1.0 from PyPI, in its own venv (created once under
  ``~/.cache/moonshine-bench/peer-venv``), ``chatgpt-to-sqlite export FILE DB``;
- ``ingest``: ``moonshine ingest FILE -p chatgpt`` into a fresh workspace;
- ``archive + merge``: ``moonshine archive RUN`` then ``moonshine merge RUN``;
- ``merge floor``: bench/floor_merge.py insert (INSERT ... SELECT of the same rows via ATTACH);
- ``re-merge``: ``moonshine merge RUN`` again (changes nothing);
- ``re-merge floor``: bench/floor_merge.py noop (keyed content-hash check against the mash);
- ``re-ingest 5%``: ``moonshine ingest`` of the changed re-export into the same workspace;
- ``distill``: ``moonshine distill`` (every enabled lane) of the mash holding the first run.

Every work is a child process timed by wall clock; its peak RSS is the largest process's
``Maximum resident set size`` from ``/usr/bin/time -v`` (children included) and, sampled every
50 ms with psutil, the sum over the process tree. Prints a markdown table of medians and the
issue's goals; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
MOONSHINE = str(Path(PYTHON).with_name("moonshine"))
PEER_PACKAGE = "chatgpt-to-sqlite==1.0.0"
PEER_VENV = Path(os.environ.get("MOONSHINE_BENCH_PEER_VENV", Path.home() / ".cache/moonshine-bench/peer-venv"))
TIME = "/usr/bin/time"

sys.path.insert(0, str(BENCH))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ensure_peer() -> Path:
    """The chatgpt-to-sqlite command of the peer venv, creating the venv the first time."""
    exe = PEER_VENV / "bin" / "chatgpt-to-sqlite"
    if not exe.exists():
        log(f"installing {PEER_PACKAGE} into {PEER_VENV}")
        PEER_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", PEER_PACKAGE], check=True)
    return exe


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0


def measure(argv: list[str], *, cwd: Path | None = None) -> dict:
    """Run ``argv`` under ``/usr/bin/time -v``; wall seconds, peak RSS (largest process and tree sum), stdout."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        proc = subprocess.Popen([TIME, "-v", "-o", tf.name, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=cwd, text=True)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = proc.communicate()
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        report = Path(tf.name).read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{err[-3000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    return {"seconds": wall, "rss_mb": int(match.group(1)) / 1024 if match else None,
            "tree_rss_mb": peak[0] / 2**20, "stdout": out}


def _last_json(text: str) -> dict:
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(text.strip().splitlines()[-1])


class Round:
    """One repeat at one size: every work once, in order, each on its own fresh state."""

    def __init__(self, work: Path, export: Path, changed: Path, peer: Path, skip: set[str]):
        self.work, self.export, self.changed, self.peer, self.skip = work, export, changed, peer, skip
        self.ws = work / "ws"
        self.results: dict[str, dict] = {}
        self.errors: dict[str, str] = {}
        self.info: dict = {}

    def run(self, name: str, argv: list[str]) -> dict | None:
        if name in self.skip:
            return None
        log(f"  {name}")
        try:
            r = measure(argv)
        except RuntimeError as exc:
            # A failing work is a finding, not the end of the benchmark: it is reported in the table.
            self.errors[name] = str(exc).strip().splitlines()[-1][:400]
            log(f"  {name} FAILED: {exc}")
            return None
        self.results[name] = r
        log(f"  {name}: {r['seconds']:.2f} s, {r['rss_mb']:.0f} MB")
        return r

    def moonshine(self, *args: str) -> list[str]:
        return [MOONSHINE, *args, "-w", str(self.ws), "--json", "-q"]

    def all(self) -> None:
        floor1 = self.run("floor 1 proc", [PYTHON, str(BENCH / "floor_tokens.py"), str(self.export), "--procs", "1"])
        floorn = self.run("floor all cores", [PYTHON, str(BENCH / "floor_tokens.py"), str(self.export), "--procs", "0"])
        for r in (floor1, floorn):
            if r:
                self.info["floor_tokens"] = _last_json(r["stdout"])["tokens"]
        self.run("chatgpt-to-sqlite", [str(self.peer), "export", str(self.export), str(self.work / "peer.db")])
        ingest = self.run("ingest", self.moonshine("ingest", str(self.export), "-p", "chatgpt"))
        if ingest is None:
            return
        manifest = _last_json(ingest["stdout"])["manifest"]
        run_id = manifest["run_id"]
        self.info.update(moonshine_tokens=manifest["tokens"].get("headline_non_system"),
                         conversations=manifest["counts"]["db_rows"]["conversations"],
                         messages=manifest["counts"]["db_rows"]["messages"],
                         unknown_shapes=manifest["unknown_shapes"], not_normalised=len(manifest["not_normalised"]),
                         raw_gates={k: g["passed"] for k, g in manifest["gates_raw"].items()})
        run_db = self.ws / "reports" / "providers" / "chatgpt" / run_id / manifest["files"]["db"]
        self.run("archive + merge", ["sh", "-c", " ".join(self.moonshine("archive", run_id)) + " >/dev/null && "
                                     + " ".join(self.moonshine("merge", run_id))])
        self.run("merge floor", [PYTHON, str(BENCH / "floor_merge.py"), "insert", str(run_db), str(self.work / "floor-ws")])
        self.run("re-merge", self.moonshine("merge", run_id))
        mash = self.ws / "reports" / "main" / "moonshine_mash_active.db"
        self.run("re-merge floor", [PYTHON, str(BENCH / "floor_merge.py"), "noop", str(run_db), str(mash)])
        reingest = self.run("re-ingest 5%", self.moonshine("ingest", str(self.changed), "-p", "chatgpt"))
        if reingest:
            tokens = _last_json(reingest["stdout"])["manifest"]["tokens"]
            self.info["reingest_texts_tokenised"] = tokens.get("texts_tokenised")
            self.info["reingest_cache_hits"] = tokens.get("cache_hits")
        self.run("distill", self.moonshine("distill"))


def median(rounds: list[Round], name: str, key: str = "seconds") -> float | None:
    values = [r.results[name][key] for r in rounds if name in r.results and r.results[name][key] is not None]
    return statistics.median(values) if values else None


def summarise(size_mb: float, stats: dict, rounds: list[Round]) -> dict:
    works = sorted({name for r in rounds for name in r.results}, key=lambda n: WORK_ORDER.index(n))
    med = {n: {k: median(rounds, n, k) for k in ("seconds", "rss_mb", "tree_rss_mb")} for n in works}
    info = rounds[-1].info
    return {"size_mb": size_mb, "export": stats, "repeats": len(rounds), "median": med,
            "runs": [{n: {k: v for k, v in r.results[n].items() if k != "stdout"} for n in r.results} for r in rounds],
            "errors": {n: e for r in rounds for n, e in r.errors.items()},
            "info": info, "goals": goals(med, info)}


WORK_ORDER = ["floor 1 proc", "floor all cores", "chatgpt-to-sqlite", "ingest", "archive + merge", "merge floor",
              "re-merge", "re-merge floor", "re-ingest 5%", "distill"]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def goals(med: dict, info: dict) -> list[dict]:
    """The goals of issue #15, each with its measured value and whether it is met."""
    s = lambda n: med.get(n, {}).get("seconds")
    rss = lambda n: med.get(n, {}).get("rss_mb")
    out = []

    def goal(text: str, value: float | None, limit: float, fmt: str, higher_is_better: bool = False) -> None:
        met = None if value is None else (value >= limit if higher_is_better else value <= limit)
        out.append({"goal": text, "value": value, "limit": limit, "met": met, "shown": fmt.format(value) if value is not None else "n/a"})

    goal("ingest <= 1.5x the all-cores floor", _ratio(s("ingest"), s("floor all cores")), 1.5, "{:.2f}x")
    goal("ingest >= 1.25x faster than chatgpt-to-sqlite", _ratio(s("chatgpt-to-sqlite"), s("ingest")), 1.25, "{:.2f}x",
         higher_is_better=True)
    goal("ingest RSS <= 1/4 of chatgpt-to-sqlite's", _ratio(rss("ingest"), rss("chatgpt-to-sqlite")), 0.25, "{:.2f}")
    goal("ingest peak RSS <= 300 MB", rss("ingest"), 300, "{:.0f} MB")
    goal("re-ingest of the 5%-changed export <= 25% of the first ingest", _ratio(s("re-ingest 5%"), s("ingest")), 0.25,
         "{:.0%}")
    goal("archive + merge <= 2x the INSERT ... SELECT floor", _ratio(s("archive + merge"), s("merge floor")), 2, "{:.1f}x")
    goal("archive + merge peak RSS <= 300 MB", rss("archive + merge"), 300, "{:.0f} MB")
    goal("re-merge <= 2x the keyed no-op check", _ratio(s("re-merge"), s("re-merge floor")), 2, "{:.1f}x")
    conversations = info.get("conversations")
    goal("distill >= 300 conversations/s", conversations / s("distill") if s("distill") and conversations else None,
         300, "{:.0f}/s", higher_is_better=True)
    return out


REFERENCES = {"ingest": ["floor all cores", "floor 1 proc", "chatgpt-to-sqlite"],
              "archive + merge": ["merge floor"], "re-merge": ["re-merge floor"], "re-ingest 5%": ["ingest"]}


def markdown(summary: dict) -> str:
    med = summary["median"]
    e = summary["export"]
    lines = [f"### {summary['size_mb']:g} MB export ({e['bytes'] / 1e6:.0f} MB, {e['conversations']:,} conversations, "
             f"{e['messages']:,} messages; median of {summary['repeats']})", "",
             "| work | Moonshine | reference | ratio |", "|---|---|---|---|"]

    def cell(name: str) -> str:
        m = med[name]
        tree = f", tree {m['tree_rss_mb']:.0f}" if m.get("tree_rss_mb") and m["tree_rss_mb"] > (m["rss_mb"] or 0) * 1.2 else ""
        return f"{m['seconds']:.2f} s, {m['rss_mb']:.0f} MB{tree}"

    for work, refs in REFERENCES.items():
        for ref in refs:
            if ref not in med:
                continue
            if work in med:
                ratio = med[work]["seconds"] / med[ref]["seconds"]
                lines.append(f"| {work} | {cell(work)} | {ref}: {cell(ref)} | {ratio:.2f}x |")
            elif work in summary["errors"]:
                lines.append(f"| {work} | failed (below) | {ref}: {cell(ref)} | |")
    if "distill" in med:
        n = summary["info"].get("conversations")
        lines.append(f"| distill | {cell('distill')} | | {n / med['distill']['seconds']:.0f} conversations/s |")
    for name, error in summary["errors"].items():
        lines.append(f"| {name} | failed: {error} | | |")
    lines += ["", "| goal | measured | met |", "|---|---|---|"]
    for g in summary["goals"]:
        lines.append(f"| {g['goal']} | {g['shown']} | {'yes' if g['met'] else ('n/a' if g['met'] is None else 'no')} |")
    info = summary["info"]
    lines += ["", f"Tokens: floor {info.get('floor_tokens') or 0:,}, Moonshine headline (non-system) "
                  f"{info.get('moonshine_tokens') or 0:,}; re-ingest tokenised {info.get('reingest_texts_tokenised')} texts "
                  f"({info.get('reingest_cache_hits')} from the cache); raw gates {info.get('raw_gates')}, "
                  f"not normalised {info.get('not_normalised')}, unknown shapes {info.get('unknown_shapes')}."]
    return "\n".join(lines)


def bench_size(size_mb: float, repeat: int, base: Path, seed: int, peer: Path, skip: set[str]) -> dict:
    from generate_export import write_changed_export, write_export

    folder = base / f"{size_mb:g}MB"
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / "conversations.json"
    changed = folder / "changed" / "conversations.json"
    changed.parent.mkdir(exist_ok=True)
    log(f"generating {size_mb:g} MB")
    stats = write_export(export, size_mb, seed)
    log(f"  {stats.bytes / 1e6:.1f} MB, {stats.conversations} conversations in {stats.seconds:.1f} s")
    cstats = write_changed_export(export, changed, 0.05, seed)
    log(f"  re-export: {len(cstats.changed_ids)} of {cstats.conversations} conversations changed")
    rounds = []
    for i in range(repeat):
        log(f"{size_mb:g} MB, round {i + 1}/{repeat}")
        work = folder / f"round{i + 1}"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir()
        r = Round(work, export, changed, peer, skip)
        r.all()
        rounds.append(r)
    export_info = {**stats.to_dict(), "generate_mb_per_s": stats.bytes / 1e6 / stats.seconds,
                   "changed_conversations": len(cstats.changed_ids)}
    return summarise(size_mb, export_info, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, nargs="+", default=[25.0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    parser.add_argument("--keep", metavar="DIR", help="keep exports and workspaces in DIR (default: a temp dir)")
    parser.add_argument("--skip", action="append", default=[], choices=WORK_ORDER, metavar="WORK",
                        help="leave out a work (repeatable): " + ", ".join(WORK_ORDER).replace("%", "%%"))
    args = parser.parse_args()
    peer = ensure_peer() if "chatgpt-to-sqlite" not in args.skip else Path("/nonexistent")
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="moonshine-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    summaries = []
    try:
        for size in args.size_mb:
            summaries.append(bench_size(size, args.repeat, base, args.seed, peer, set(args.skip)))
            print(markdown(summaries[-1]) + "\n", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                   "cpu_count": os.cpu_count(), "sizes": summaries}, indent=2))


if __name__ == "__main__":
    main()
