"""End to end: `moonshine run` on a zip of the synthetic sessions folder, through every stage, all gates passing.

The export is a fresh copy written to a temporary folder and run as a provider export; the agentic-code
lane must hold rows from provider codex with outcomes read from the tool results.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codex_helpers import HOME, zip_folder

pytestmark = pytest.mark.slow


def _moonshine() -> str:
    exe = Path(sys.executable).parent / "moonshine"
    found = str(exe) if exe.exists() else shutil.which("moonshine")
    if not found:
        pytest.skip("moonshine console script is not installed")
    return found


def _run(exe: str, workspace: Path, *args: str) -> dict:
    out = subprocess.run([exe, "--workspace", str(workspace), "--json", *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_moonshine_run_takes_a_sessions_zip_through_every_stage(tmp_path):
    exe = _moonshine()
    export = zip_folder(HOME, tmp_path / "codex-sessions.zip")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    pre = _run(exe, workspace, "preflight", str(export))
    assert pre["provider"] == "codex"
    done = _run(exe, workspace, "run", str(export))
    run_id = done["ingest"]["run_id"]
    assert all(done["ingest"]["gates_raw"].values()), done["ingest"]
    assert done["merge"]["action"] == "merge"
    manifest = json.loads((workspace / "reports" / "providers" / "codex" / run_id / "manifest.json").read_text())
    assert {g["status"] for g in manifest["gates"].values()} == {"pass"}, manifest["gates"]
    assert all(g["passed"] for g in manifest["gates_raw"].values())
    lanes = workspace / "reports" / "distillations" / "agentic_code"
    [folder] = [p for p in lanes.iterdir() if p.is_dir()]
    rows = [json.loads(line) for f in folder.glob("*.jsonl") for line in f.read_text().splitlines() if line.strip()]
    assert rows and {r["provider"] for r in rows} == {"codex"}
    assert {r["outcome"] for r in rows} <= {"resolved", "failed", "unknown"}
    assert any(r["outcome"] == "resolved" and r["outcome_source"] == "tests_passed" for r in rows)
    assert any(r["n_tool_errors"] > 0 for r in rows)
    for row in rows:
        assert row["messages"][0]["role"] == "user" and row["messages"][-1]["role"] == "assistant"
        assert any(m["tool_calls"] for m in row["messages"])
