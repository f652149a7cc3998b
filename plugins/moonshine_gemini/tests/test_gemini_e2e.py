"""End to end: ``moonshine run`` (the installed script, in a subprocess) on a fresh synthetic Takeout, twice.

The second export is the same account a month later: the same records (re-rendered answers included) behind
new ones. Every gate passes both times, and the second merge inserts only the new rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MEMBER = "Takeout/My Activity/Gemini Apps/MyActivity.json"


def _moonshine(workspace: Path, *args: str) -> dict:
    exe = Path(sys.executable).with_name("moonshine")
    out = subprocess.run([str(exe), "--workspace", str(workspace), "--json", *args], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _gates(workspace: Path, run_id: str) -> dict:
    manifest = json.loads((workspace / "reports" / "providers" / "gemini" / run_id / "manifest.json").read_text())
    return {**{k: g["passed"] for k, g in manifest["gates_raw"].items()},
            **{k: g["status"] for k, g in manifest["gates"].items()}}


def test_run_twice_a_month_apart(build, tmp_path):
    old = json.loads(build.takeout_json.read_text(encoding="utf-8"))
    first = build.write_zip(tmp_path / "takeout-20260315.zip", {MEMBER: old, "Takeout/archive_browser.html": "<html/>"})
    newer = [build.prompt("A new question in April", "2026-04-10T09:00:00.000Z", "<p>A new answer.</p>"),
             build.prompt("And a follow-up", "2026-04-10T09:03:00.000Z", "<p>Another.</p>")]
    rerendered = [dict(r, safeHtmlItem=[{"html": "<p>re-rendered</p>"}]) if r.get("safeHtmlItem") else r for r in old]
    second = build.write_zip(tmp_path / "takeout-20260415.zip", {MEMBER: newer + rerendered})
    workspace = tmp_path / "ws"
    workspace.mkdir()

    assert _moonshine(workspace, "preflight", str(first))["provider"] == "gemini"
    done = _moonshine(workspace, "run", str(first))
    run_id = done["ingest"]["run_id"]
    assert done["merge"]["action"] == "merge"
    assert set(_gates(workspace, run_id).values()) <= {True, "pass"}, _gates(workspace, run_id)
    counts = done["merge"]["counts"]
    assert counts["conversations"]["inserted"] == 6 and counts["messages"]["inserted"] == 21

    again = _moonshine(workspace, "run", str(second))
    assert set(_gates(workspace, again["ingest"]["run_id"]).values()) <= {True, "pass"}
    counts = again["merge"]["counts"]
    assert counts["conversations"]["inserted"] == 1 and counts["messages"]["inserted"] == 4
    assert counts["messages"]["updated"] == 10          # the re-rendered answers, same ids
    assert counts["feedback"]["inserted"] == 0 and counts["side_records"]["inserted"] == 0

    status = _moonshine(workspace, "status")
    text = json.dumps(status)
    assert "gemini" in text
