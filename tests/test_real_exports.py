"""Acceptance: every real export in ../shared/real-exports is detected as its provider and ingests
(or, for the excerpts that are not whole exports, is refused with a clear one-line error)."""

from pathlib import Path

import pytest

from moonshine_core.errors import MoonshineError
from moonshine_core.ingest import ingest
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.preflight import preflight
from moonshine_core.testing import real_exports_dir
from moonshine_core.workspace import Workspace

REAL = real_exports_dir(start=__file__)
FOLDER_PROVIDER = {"chatgpt": "chatgpt", "claude": "claude", "claude_code": "claude",
                   "deepseek": "deepseek", "qwen": "qwen"}


def real_files():
    if REAL is None:
        return []
    return sorted(p for folder in FOLDER_PROVIDER if (REAL / folder).is_dir()
                  for p in (REAL / folder).iterdir() if p.is_file())


def is_excerpt(path: Path) -> bool:
    return "EXCERPT" in path.name


@pytest.fixture(scope="module")
def pm():
    manager = make_plugin_manager()
    missing = set(FOLDER_PROVIDER.values()) - set(manager.providers())
    if missing:
        pytest.skip(f"provider plugins not installed: {sorted(missing)}")
    return manager


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace.open(tmp_path_factory.mktemp("real-ws"))


@pytest.mark.real_exports
@pytest.mark.parametrize("path", real_files(), ids=lambda p: f"{p.parent.name}/{p.name[:60]}")
def test_detected_as_its_provider_and_ingested(path, pm, ws):
    expected = FOLDER_PROVIDER[path.parent.name]
    if is_excerpt(path):
        with pytest.raises(MoonshineError) as err:
            ingest(path, workspace=ws, pm=pm)
        message = str(err.value)
        assert "\n" not in message and path.name in message
        assert not any(r for _, r in ws.run_ids() if path.name in r)
        return
    pre = preflight(path, pm=pm)
    assert pre.provider == expected, (pre.provider, pre.detections)
    result = ingest(path, workspace=ws, pm=pm)
    assert result.provider == expected
    assert result.gates_passed, result.manifest["gates_raw"]
    assert not result.manifest["not_normalised"], result.manifest["not_normalised"]


def test_real_exports_are_present_or_skipped():
    if REAL is None:
        pytest.skip("../shared/real-exports is absent")
    assert real_files(), f"no files under {REAL}"
