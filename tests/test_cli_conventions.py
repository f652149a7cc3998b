"""The conventions users of llm / sqlite-utils expect: global options after the command too,
JSON errors under --json, an example on every --help page, no demo in a real corpus."""

from __future__ import annotations

import json
import os
import stat

import click
import pytest
from click.testing import CliRunner

from moonshine_core import lifecycle
from moonshine_core.cli.main import cli
from moonshine_core.errors import CorruptFileError, MoonshineError
from moonshine_core.jsonio import read_json, write_json_atomic

COMMANDS = sorted(cli.commands)


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def _workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "moonshine.toml").write_text("", encoding="utf-8")
    return ws


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_an_example_and_takes_the_global_options(name):
    result = invoke(name, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`moonshine {name} --help` shows no example"
    for option in ("--json", "--quiet", "--debug", "--workspace"):
        assert option in result.output, f"`moonshine {name}` does not accept {option}"


def test_options_after_the_command_mean_what_they_mean_before_it(tmp_path):
    ws = _workspace(tmp_path)
    before = invoke("--json", "--workspace", str(ws), "status")
    after = invoke("status", "--json", "-w", str(ws))
    assert before.exit_code == after.exit_code == 0, (before.output, after.output)
    assert json.loads(before.output) == json.loads(after.output)
    assert json.loads(after.output)["workspace"] == str(ws)


def test_plugins_json_after_the_command():
    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    assert any(p["name"] == "builtin-scorers" for p in json.loads(result.output))


def test_errors_under_json_are_json_with_the_documented_exit_codes(tmp_path):
    ws = _workspace(tmp_path)
    usage = invoke("status", "--json", "--no-such-option")
    assert usage.exit_code == 2
    assert usage.stdout == ""
    payload = json.loads(usage.stderr)
    assert payload["kind"] == "usage" and "--no-such-option" in payload["error"] and payload["hint"]

    refused = invoke("ledger", "not-a-run", "--json", "-w", str(ws))
    assert refused.exit_code == 1
    payload = json.loads(refused.stderr)
    assert set(payload) == {"error", "kind", "hint"}
    assert payload["kind"] == "WorkspaceError" and "not-a-run" in payload["error"]


def test_errors_without_json_stay_one_line_on_stderr(tmp_path):
    result = invoke("ledger", "not-a-run", "-w", str(_workspace(tmp_path)))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1


def test_status_of_a_folder_that_is_not_a_workspace_is_an_error(tmp_path):
    empty = tmp_path / "not-a-workspace"
    empty.mkdir()
    for folder in (empty, tmp_path / "missing"):
        result = invoke("status", "--json", "-w", str(folder))
        assert result.exit_code == 1, result.output
        assert json.loads(result.stderr)["kind"] == "WorkspaceError"


def test_demo_refuses_a_folder_that_is_not_a_demo_workspace(tmp_path):
    ws = _workspace(tmp_path)
    (ws / "moonshine.toml").write_text('allowed_source_kinds = ["provider_export", "synthetic_sample"]\n')
    result = invoke("demo", "--workspace", str(ws))
    assert result.exit_code == 1
    assert "not a demo workspace" in result.stderr
    assert sorted(p.name for p in ws.iterdir()) == ["moonshine.toml"], "the refused demo wrote something"


def test_demo_ignores_the_real_workspace_in_the_environment(tmp_path, monkeypatch):
    seen = []

    def fake_demo(ws, pm=None, progress=None):
        seen.append(ws.root)
        raise MoonshineError("stop here")

    monkeypatch.setattr(lifecycle, "demo", fake_demo)
    real = _workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    invoke("demo", env={"MOONSHINE_WORKSPACE": str(real)})
    invoke("--workspace", str(tmp_path / "explicit"), "demo")
    assert seen == [tmp_path / "moonshine-demo", tmp_path / "explicit"]


def test_reports_follow_the_umask_and_corrupt_json_is_a_named_error(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "manifest.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode) == 0o644
    (tmp_path / "cut.json").write_text('{"entries": [', encoding="utf-8")
    with pytest.raises(CorruptFileError, match="cut.json is not valid JSON"):
        read_json(tmp_path / "cut.json")
    assert issubclass(CorruptFileError, ValueError)


def test_global_options_never_shadow_a_commands_own():
    demo = cli.commands["demo"]
    names = [p.name for p in demo.params if "--workspace" in getattr(p, "opts", [])]
    assert names == ["demo_dir"]
    assert all(isinstance(p, click.Parameter) for p in demo.params)


# -- preflight and the run id it proposes -------------------------------------------------------
def _sample(provider: str, needle: str = "") -> str:
    from moonshine_core.plugins import make_plugin_manager

    paths = [p for p in make_plugin_manager().sample_exports().get(provider, []) if needle in p]
    if not paths:
        pytest.skip(f"no {provider} sample export{' with ' + needle if needle else ''} installed")
    return paths[0]


def test_ingest_uses_the_run_id_preflight_proposed(tmp_path):
    from moonshine_core.ingest import ingest
    from moonshine_core.preflight import preflight
    from moonshine_core.workspace import Workspace

    (tmp_path / "moonshine.toml").write_text('allowed_source_kinds = ["provider_export", "synthetic_sample"]\n')
    ws = Workspace.open(tmp_path)
    sample = _sample("chatgpt")
    proposed = preflight(sample, run_id_taken=ws.run_id_taken).run_id
    done = ingest(sample, workspace=ws, run_id=proposed, source_kind="synthetic_sample")
    assert done.run_id == proposed
    again = invoke("ingest", sample, "--run-id", proposed, "-w", str(tmp_path), "--json")
    assert again.exit_code == 1 and "is taken" in json.loads(again.stderr)["error"]
    wrong = invoke("ingest", sample, "--run-id", "claude_20260101_120000", "-w", str(tmp_path))
    assert wrong.exit_code == 1 and "is not chatgpt_YYYYMMDD_HHMMSS" in wrong.stderr


def test_a_variant_name_picks_the_plugin_that_reads_it(tmp_path):
    sample = _sample("claude", "claude_code")
    result = invoke("preflight", sample, "-p", "claude_code", "--json", "-w", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["provider"] == "claude" and data["variant"].startswith("claude_code")
