import multiprocessing
import os

import pytest

from moonshine_core.errors import WorkspaceError
from moonshine_core.workspace import Workspace


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOONSHINE_WORKSPACE", raising=False)
    assert Workspace.open().root == tmp_path.resolve()
    env_ws = tmp_path / "env"
    monkeypatch.setenv("MOONSHINE_WORKSPACE", str(env_ws))
    assert Workspace.open().root == env_ws.resolve()
    assert Workspace.open(tmp_path / "explicit").root == (tmp_path / "explicit").resolve()


def test_layout_paths(tmp_path):
    ws = Workspace.open(tmp_path)
    run = "chatgpt_20260101_120000"
    assert ws.run_db_path("chatgpt", run) == tmp_path / f"reports/providers/chatgpt/{run}/moonshine_chatgpt_{run}.db"
    assert ws.run_ledger_path("chatgpt", run).name == f"token_ledger.chatgpt.{run}.json"
    assert ws.premerge_snapshot_path(run) == tmp_path / f"archive/main/{run}/moonshine_mash_premerge.db"
    assert ws.mash_path == tmp_path / "reports/main/moonshine_mash_active.db"
    assert ws.distill_dir("dpo", "x") == tmp_path / "reports/distillations/dpo/x"
    assert ws.overview_path == tmp_path / "docs/Moonshine-Project-Overview.md"


def test_settings_are_read(tmp_path):
    (tmp_path / "moonshine.toml").write_text(
        'merge_order = ["qwen", "deepseek"]\n[lanes]\neval_fraction = 0.2\n[mix]\nquotas = { chatgpt = 5 }\n')
    ws = Workspace.open(tmp_path)
    assert ws.settings.merge_order == ["qwen", "deepseek"]
    assert ws.settings.lanes.eval_fraction == 0.2
    assert ws.settings.mix.quotas == {"chatgpt": 5}
    assert "web_crawl" in ws.settings.contamination_tags


@pytest.mark.parametrize("text,message", [
    ("merge_order = [", "not valid TOML"),
    ("merge_ordr = []", "unknown setting(s) merge_ordr"),
    ("[lanes]\neval_fraction = 'lots'", "lanes.eval_fraction"),
])
def test_bad_settings_are_one_line_errors(tmp_path, text, message):
    (tmp_path / "moonshine.toml").write_text(text)
    with pytest.raises(WorkspaceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Workspace.open(tmp_path)


def _hold(root, started, release):
    ws = Workspace.open(root)
    with ws.lock():
        started.set()
        release.wait(10)


def test_lock_excludes_a_second_writer(tmp_path):
    ctx = multiprocessing.get_context("fork")
    started, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(tmp_path), started, release))
    proc.start()
    try:
        assert started.wait(10)
        with pytest.raises(WorkspaceError, match=f"locked by pid {proc.pid}"):
            with Workspace.open(tmp_path).lock():
                pass
    finally:
        release.set()
        proc.join(10)
    with Workspace.open(tmp_path).lock():
        assert os.path.exists(tmp_path / ".moonshine" / "lock")


def test_find_run_errors_name_what_exists(tmp_path):
    ws = Workspace.open(tmp_path)
    (tmp_path / "reports/providers/qwen/qwen_20260101_000000").mkdir(parents=True)
    assert ws.find_run("qwen_20260101_000000") == "qwen"
    with pytest.raises(WorkspaceError, match="runs: qwen_20260101_000000"):
        ws.find_run("qwen_20990101_000000")
    with pytest.raises(WorkspaceError, match="not a run id"):
        ws.find_run("garbage")
