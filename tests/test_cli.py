"""The moonshine command run as a user would: a subprocess."""

import json
import subprocess

from moonshine_core import __version__


def run(exe, *args, env=None):
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env)


def test_version(moonshine_exe):
    out = run(moonshine_exe, "--version")
    assert out.returncode == 0 and __version__ in out.stdout


def test_help_teaches_the_lifecycle(moonshine_exe):
    out = run(moonshine_exe, "--help")
    assert out.returncode == 0
    for word in ("preflight", "ingest", "merge", "--workspace", "--json", "--quiet", "--debug"):
        assert word in out.stdout


def test_plugins_json_lists_builtins(moonshine_exe):
    out = run(moonshine_exe, "--json", "plugins")
    assert out.returncode == 0, out.stderr
    names = {p["name"]: p for p in json.loads(out.stdout)}
    assert names["builtin-scorers"]["builtin"] is True
    assert "moonshine_score" in names["builtin-scorers"]["hooks"]


def test_errors_are_one_line_and_tracebacks_only_with_debug(moonshine_exe, tmp_path):
    (tmp_path / "moonshine.toml").write_text("merge_order = [")
    out = run(moonshine_exe, "--workspace", str(tmp_path), "info")
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "not valid TOML" in out.stderr and "Traceback" not in out.stderr
    debug = run(moonshine_exe, "--debug", "--workspace", str(tmp_path), "info")
    assert debug.returncode != 0 and "Traceback" in debug.stderr
