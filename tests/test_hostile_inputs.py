"""Hostile export folders and paths: links are never followed, devices and FIFOs never opened."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from moonshine_core.archive import archive_run
from moonshine_core.cli.main import cli
from moonshine_core.errors import ParseError
from moonshine_core.ingest import ingest
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.sources import ExportSource, folder_sha256
from moonshine_core.workspace import Workspace

TOY_EXPORT = [{"id": "c1", "title": "t", "turns": [
    {"id": "q", "parent": None, "who": "user", "said": "hello", "at": 1700000000},
    {"id": "a", "parent": "q", "who": "assistant", "said": "hi", "at": 1700000001}]}]


@pytest.fixture(autouse=True)
def deadline():
    """A test here that hangs (a FIFO opened, /dev/zero read) fails in seconds instead of never ending."""
    def stop(signum, frame):
        raise TimeoutError("hung on a hostile input")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def hostile_folder(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text('{"secret": "not part of the export"}')
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "toy_export.json").write_text(json.dumps(TOY_EXPORT))
    (folder / "attachment.bin").symlink_to("/dev/zero")
    (folder / "user.json").symlink_to(outside)
    (folder / "etc").symlink_to("/etc")
    os.mkfifo(folder / "pipe")
    return folder


def test_folder_members_are_regular_files_only(hostile_folder, tmp_path):
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "toy_export.json").write_text((hostile_folder / "toy_export.json").read_text())
    with ExportSource(hostile_folder) as source:
        assert source.names() == ["toy_export.json"]
        skipped = source.skipped()
        assert set(skipped) == {"attachment.bin", "user.json", "etc", "pipe"}
        assert "symbolic link" in skipped["user.json"] and "FIFO" in skipped["pipe"]
        for name in ("user.json", "attachment.bin", "pipe", "etc/passwd"):
            with pytest.raises(ParseError, match="no member"):
                source.open(name)
        assert source.sha256() == folder_sha256(clean)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_is_not_an_export(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    with pytest.raises(ParseError, match="not an export"):
        ExportSource(path)
    result = CliRunner().invoke(cli, ["ingest", str(path), "-w", str(tmp_path / "ws")])
    assert result.exit_code == 1 and "not an export" in result.stderr


def test_ingest_and_archive_keep_only_the_exports_files(hostile_folder, tmp_path, toy_plugin):
    pm = make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin)])
    ws = Workspace.open(tmp_path / "ws")
    run = ingest(hostile_folder, workspace=ws, pm=pm)
    assert set(run.manifest["skipped_members"]) == {"attachment.bin", "user.json", "etc", "pipe"}
    archive_run(ws, run.run_id)
    copied = ws.archive_run_dir("toy", run.run_id) / "source" / hostile_folder.name
    assert sorted(p.name for p in copied.iterdir()) == ["toy_export.json"]
    assert not any(p.is_symlink() for p in copied.rglob("*"))


@pytest.mark.parametrize("epoch, expected", [(0, "1970-01-01T00:00:00Z"), (1700000000.5, "2023-11-14T22:13:20Z"),
                                             (1.7e13, None), (float("inf"), None), (None, None)])
def test_times_that_are_not_dates_never_raise(epoch, expected):
    from moonshine_core.timeutil import epoch_to_iso

    assert epoch_to_iso(epoch) == expected


def test_a_zip_with_a_member_name_twice_is_refused(tmp_path):
    import warnings
    import zipfile

    path = tmp_path / "export.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # zipfile warns about the duplicate name it is asked to write
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("conversations.json", json.dumps(TOY_EXPORT))
            archive.writestr("conversations.json", "[]")
    with pytest.raises(ParseError, match="more than once"):
        ExportSource(path).names()


@pytest.mark.parametrize("content", [b"", b"not json", b'{"a": 1}', b"[1, 2]"])
def test_an_unreadable_conversations_file_beside_side_files_is_an_error(tmp_path, content):
    """Feedback beside a damaged conversations.json used to ingest as a success with 0 conversations."""
    pm = make_plugin_manager()
    if "chatgpt" not in pm.providers():
        pytest.skip("the chatgpt plugin is not installed")
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "conversations.json").write_bytes(content)
    (folder / "message_feedback.json").write_text(json.dumps(
        [{"id": "f1", "conversation_id": "c1", "message_id": "m1", "rating": "thumbsUp"}]))
    with pytest.raises(ParseError, match="conversations cannot all be read"):
        ingest(folder, "chatgpt", workspace=Workspace.open(tmp_path / "ws"), pm=pm)


def test_an_empty_conversations_array_is_an_empty_account_not_damage(tmp_path):
    pm = make_plugin_manager()
    if "chatgpt" not in pm.providers():
        pytest.skip("the chatgpt plugin is not installed")
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "conversations.json").write_text("[\n]\n")
    (folder / "message_feedback.json").write_text(json.dumps(
        [{"id": "f1", "conversation_id": "c1", "message_id": "m1", "rating": "thumbsUp"}]))
    run = ingest(folder, "chatgpt", workspace=Workspace.open(tmp_path / "ws"), pm=pm)
    assert run.manifest["counts"]["db_rows"]["conversations"] == 0
