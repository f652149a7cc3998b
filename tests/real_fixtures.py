"""The public real exports (../shared/real-exports) merged into a workspace once per test session.

Ingest, archive and merge of the acceptance picks is the costly part of every real-export
test; :func:`merged_real_workspace` does it once per set of picks and hands each caller a copy
(the workspace holds only relative paths), with the caller's own ``moonshine.toml``, to distil
as it likes. Skips the calling test when the exports or the provider plugins are absent.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

from moonshine_core.testing import real_exports_dir

REAL = real_exports_dir(start=__file__)

#: A few exports per provider, chosen for signal: regenerate branches and feedback (chatgpt),
#: code-interpreter runs (realazthat), inline model comparisons (VRSEx), tool sessions (claude_code).
PICKS = {
    "chatgpt": ["chatgpt/MAX0240__filesxo__conversations.json",
                "chatgpt/realazthat__chatgpt2graph__examples__conversations.json",
                "chatgpt/VRSEx__ADHD__model_comparisons.json",
                "chatgpt/yoonchoonkoon__chatgpt-archive__DERIVED_selected_conversations.json"],
    "claude": ["claude/Superkikim__nexus-ai-chat-importer__local_resources__Claude.json",
               "claude/idanmashaal__Now2ai-Claude-Export-Processor__data__conversations.json",
               "claude_code/marot__spotter__test__fixtures__transcripts__tool_heavy.jsonl",
               "claude_code/marot__spotter__test__fixtures__transcripts__short.jsonl"],
    "deepseek": ["deepseek/ceyaima__deepseek-exporter__samples__DeepSeek_-_sample_2025-05-21T17-13-38__at_commit_179ac78.json",
                 "deepseek/tbdtechpro__KeroMDizer__tests__fixtures__sample_deepseek_conversations.SYNTHETIC.json"],
    "qwen": ["qwen/AfterThink__AfterChat-Converter__examples__small.json",
             "qwen/AfterThink__AfterChat-Converter__crates__afterchat-qwen__examples__single.json"],
}

#: Built workspaces by picks: (folder or None when none of the picks is present, providers merged).
_BUILT: dict[tuple, tuple[Path | None, list[str]]] = {}
_SCRATCH: list[Path] = []


def _build(picks: dict[str, list[str]], *, require_all: bool) -> tuple[Path | None, list[str]]:
    from moonshine_core.archive import archive_run
    from moonshine_core.ingest import ingest
    from moonshine_core.merge import merge_run
    from moonshine_core.plugins import make_plugin_manager
    from moonshine_core.workspace import Workspace

    pm = make_plugin_manager()
    missing = set(picks) - set(pm.providers())
    if missing:
        pytest.skip(f"provider plugins not installed: {sorted(missing)}")
    scratch = Path(tempfile.mkdtemp(prefix="moonshine-real-"))
    _SCRATCH.append(scratch)
    ws = Workspace.open(scratch / "ws")
    merged = []
    for provider, names in picks.items():
        for name in names:
            if not (REAL / name).exists():
                if require_all:
                    pytest.skip(f"{name} is not in the real exports")
                continue
            run = ingest(REAL / name, provider=provider, workspace=ws, pm=pm)
            archive_run(ws, run.run_id)
            merge_run(ws, run.run_id)
            merged.append(provider)
    return (ws.root if merged else None), sorted(set(merged))


def merged_real_workspace(root: Path, picks: dict[str, list[str]] | None = None, *, settings: str = "",
                          require_all: bool = False):
    """A workspace at ``root`` (which must not exist) holding ``picks`` (default :data:`PICKS`)
    ingested, archived and merged, with ``settings`` as its ``moonshine.toml``; returns
    ``(workspace, providers merged)``. ``require_all`` skips unless every pick is present."""
    from moonshine_core.workspace import Workspace

    if REAL is None:
        pytest.skip("no ../shared/real-exports")
    picks = PICKS if picks is None else picks
    key = (tuple(sorted((p, tuple(n)) for p, n in picks.items())), require_all)
    if key not in _BUILT:
        _BUILT[key] = _build(picks, require_all=require_all)
    built, providers = _BUILT[key]
    if built is None:
        pytest.skip("none of the picked real exports is present")
    shutil.copytree(built, root, symlinks=True)
    (root / "moonshine.toml").write_text(settings, encoding="utf-8")
    return Workspace.open(root), providers


@atexit.register
def _clean() -> None:
    for folder in _SCRATCH:
        shutil.rmtree(folder, ignore_errors=True)
