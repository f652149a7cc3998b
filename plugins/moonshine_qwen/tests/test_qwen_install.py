"""Installing the plugin (with the core) is all it takes for the plugin manager to list it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from moonshine_core.testing import plugin_manager_for


def test_entry_point_is_listed_without_error():
    pm = plugin_manager_for("qwen")  # loaded through the installed entry point
    infos = {i.name: i for i in pm.plugin_infos()}
    info = infos["qwen"]
    assert info.error is None
    assert info.distribution == "moonshine-qwen" and info.version == "0.1.0"
    assert set(info.hooks) == {"moonshine_detect", "moonshine_parse", "moonshine_normalize",
                               "moonshine_sample_exports"}
    assert "qwen" in pm.providers()


def test_fresh_interpreter_lists_the_plugin():
    command = Path(sys.executable).with_name("moonshine")
    out = subprocess.run([str(command), "--json", "plugins"], capture_output=True, text=True, check=True, timeout=60)
    listed = {i["name"]: i for i in json.loads(out.stdout)}
    assert "qwen" in listed and listed["qwen"]["error"] is None
