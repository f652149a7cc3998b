import hashlib
import io
import zipfile

import pytest

from moonshine_core.errors import ParseError
from moonshine_core.sources import ExportSource, folder_sha256, iter_json_items, iter_jsonl, sniff_json


def test_single_file_zip_and_folder_give_the_same_members(tmp_path):
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "conversations.json").write_text('[{"id": 1}, {"id": 2}]')
    (tmp_path / "dir" / "sub" / "x.txt").write_text("x")
    with zipfile.ZipFile(tmp_path / "e.zip", "w") as zf:
        zf.write(tmp_path / "dir" / "conversations.json", "conversations.json")
        zf.write(tmp_path / "dir" / "sub" / "x.txt", "sub/x.txt")
    with ExportSource(tmp_path / "dir") as d, ExportSource(tmp_path / "e.zip") as z:
        assert d.kind == "dir" and z.kind == "zip"
        assert d.names() == z.names() == ["conversations.json", "sub/x.txt"]
        assert list(d.iter_json("conversations.json")) == list(z.iter_json("conversations.json")) == \
            [{"id": 1}, {"id": 2}]
        assert z.find(r"conversations(-\d{3})?\.json") == ["conversations.json"]
    with ExportSource(tmp_path / "dir" / "conversations.json") as f:
        assert f.kind == "file" and f.names() == ["conversations.json"]
        assert f.sha256() == hashlib.sha256((tmp_path / "dir" / "conversations.json").read_bytes()).hexdigest()


def test_folder_hash_is_the_documented_recipe(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.json").write_bytes(b"A")
    (tmp_path / "b" / "c.json").write_bytes(b"C")
    expected = hashlib.sha256()
    for rel, data in (("a.json", b"A"), ("b/c.json", b"C")):
        expected.update(rel.encode() + b"\0" + hashlib.sha256(data).hexdigest().encode() + b"\n")
    assert folder_sha256(tmp_path) == expected.hexdigest()
    assert ExportSource(tmp_path).sha256() == folder_sha256(tmp_path)
    (tmp_path / "b" / "c.json").write_bytes(b"changed")
    assert folder_sha256(tmp_path) != expected.hexdigest()


def test_sniff_reads_only_the_head():
    big = b'[{"mapping": {"a": {}}, "current_node": "a"},' + b'{"x": 1},' * 100000 + b'{"x": 1}]'
    sniff = sniff_json(io.BytesIO(big), max_bytes=4096)
    assert sniff.top == "array" and not sniff.complete
    assert {"item.mapping", "item.current_node"} <= sniff.prefixes
    assert sniff.first_item_keys == ["mapping", "current_node"]
    assert sniff_json(io.BytesIO(b'{"success": true, "data": []}')).first_item_keys == ["success", "data"]
    assert sniff_json(io.BytesIO(b"")).top == "invalid"
    assert sniff_json(io.BytesIO(b"not json at all")).error


def test_bad_json_is_a_parse_error_naming_the_file():
    with pytest.raises(ParseError, match="conv.json"):
        list(iter_json_items(io.BytesIO(b'[{"a": 1}, {"b": '), path="conv.json"))


def test_jsonl_reports_bad_lines():
    lines = list(iter_jsonl(io.BytesIO(b'{"a": 1}\n\nnot json\n{"b": 2}\n')))
    assert [(n, v) for n, v, _ in lines] == [(1, {"a": 1}), (3, None), (4, {"b": 2})]
    assert lines[1][2].startswith("line 3: invalid JSON")


def test_nested_zip(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("conversations.json", "[]")
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as zf:
        zf.writestr("batch-1.zip", inner.getvalue())
    with ExportSource(tmp_path / "outer.zip") as outer:
        nested = outer.nested("batch-1.zip")
        assert nested.names() == ["conversations.json"]
        assert list(nested.iter_json("conversations.json")) == []


def test_missing_export_is_a_parse_error(tmp_path):
    with pytest.raises(ParseError, match="no such file"):
        ExportSource(tmp_path / "nope.zip")
