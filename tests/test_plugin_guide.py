"""The code of docs/writing_a_provider_plugin.md runs: its detect, parse and normalize, put together as
the guide says, make a plugin that detects and ingests an acme export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from moonshine_core.ingest import ingest
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.workspace import Workspace

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing_a_provider_plugin.md"


def guide_plugin(folder: Path):
    """Execute the guide's Python blocks (steps 3-5) as the module ``moonshine_acme/plugin.py``."""
    text = GUIDE.read_text(encoding="utf-8")
    start, end = text.index("## 3. Detect"), text.index("## 6. Install")
    code = "\n".join(re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S))
    (folder / "samples").mkdir(parents=True)
    namespace = {"__file__": str(folder / "plugin.py"), "__name__": "moonshine_acme.plugin"}
    exec(compile(code, str(GUIDE), "exec"), namespace)
    return namespace["plugin"]


def test_the_guide_builds_a_working_plugin(tmp_path):
    plugin = guide_plugin(tmp_path / "moonshine_acme")
    export = tmp_path / "acme_export.json"
    export.write_text(json.dumps([
        {"id": "c1", "title": "Hi", "turns": [
            {"id": "1", "parent": None, "who": "user", "said": "hello", "at": 1700000000},
            {"id": "2", "parent": "1", "who": "assistant", "said": "hi there", "at": 1700000001},
            {"id": "3", "parent": "1", "who": "assistant", "said": "hello!", "at": 1700000002},
            {"id": "4", "parent": "3", "who": "user", "said": "thanks", "at": 1700000003}]},
        {"title": "no id"}]))
    pm = make_plugin_manager(load_entrypoints=False, strict=True, extra=[("acme", plugin)])
    assert pm.providers() == ["acme"]
    result = ingest(export, workspace=Workspace.open(tmp_path / "ws"), pm=pm)
    assert result.provider == "acme" and result.gates_passed
    assert [f["reason"] for f in result.manifest["not_normalised"]] == ["acme_export.json#1: conversation has no id"]
    from moonshine_core.store import Store
    with Store(Path(result.db_path), create=False) as store:
        assert store.count("messages") == 4
        [comparison] = store.comparisons()
    assert comparison.comparison_id == "regen:c1:1" and comparison.chosen_message_ids == ["3"]
