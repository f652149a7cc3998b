"""Installing the plugin (with the core) is all it takes for the plugin manager to list it."""

from __future__ import annotations

import json
import subprocess
import sys

from moonshine_core.plugins import make_plugin_manager


def test_entry_point_is_listed_without_error():
    pm = make_plugin_manager(allow={"qwen"}, block=set(), strict=True)
    infos = {i.name: i for i in pm.plugin_infos()}
    info = infos["qwen"]
    assert info.error is None
    assert info.distribution == "moonshine-qwen" and info.version == "0.1.0"
    assert set(info.hooks) == {"moonshine_detect", "moonshine_parse", "moonshine_normalize",
                               "moonshine_sample_exports"}
    assert "qwen" in pm.providers()


def test_fresh_interpreter_lists_the_plugin():
    code = ("import json; from moonshine_core.plugins import make_plugin_manager as m; "
            "print(json.dumps([i.to_dict() for i in m().plugin_infos()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    listed = {i["name"]: i for i in json.loads(out.stdout)}
    assert "qwen" in listed and listed["qwen"]["error"] is None
