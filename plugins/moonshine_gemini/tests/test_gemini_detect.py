"""Detection: Gemini Apps activity in every container and language seen, never another provider's export."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from moonshine_core.errors import ParseError
from moonshine_core.sources import ExportSource
from moonshine_core.testing import plugin_manager_for, real_exports_dir
from moonshine_gemini.plugin import plugin as gemini

OTHER_PROVIDERS = sorted(ep.name for ep in entry_points(group="moonshine") if ep.name != "gemini")
REAL = real_exports_dir(start=__file__)


def _turns(build, n=2):
    return [build.prompt(f"question {i}", f"2026-01-0{i + 1}T10:00:00.000Z") for i in range(n)]


def test_samples_are_detected(detect, build):
    for sample in build.samples.iterdir():
        found = detect(sample)
        assert found.provider == "gemini" and found.variant == "my-activity-json"
        assert found.confidence == 0.95
        assert "Gemini Apps" in found.evidence


@pytest.mark.parametrize("member", [
    "Takeout/My Activity/Gemini Apps/MyActivity.json",
    "Takeout/My Activity/Gemini Apps/My Activity.json",
    "Takeout/Meine Aktivitäten/Gemini-Apps/MeineAktivitäten.json",
    "Takeout/我的活动/Gemini Apps/我的活动记录.json",
    "Takeout/Mon activité/Applications Gemini/MonActivité.json",
    "Takeout/My Activity/Bard/MyActivity.json",
])
def test_localized_and_older_folder_names(detect, run, build, tmp_path, member):
    path = build.write_zip(tmp_path / "takeout.zip", {member: _turns(build)})
    found = detect(path)
    assert found.provider == "gemini" and member in found.evidence
    assert len(run(path).conversations) == 2


def test_whole_takeout_reads_only_gemini(detect, run, build, tmp_path):
    members = {
        "Takeout/My Activity/YouTube/MyActivity.json": [build.other("YouTube", "Watched a video",
                                                                    "2026-01-01T09:00:00Z")],
        "Takeout/My Activity/Search/MyActivity.json": [build.other("Search", "Searched for x", "2026-01-01T09:01:00Z")],
        "Takeout/My Activity/Gemini Apps/MyActivity.json": _turns(build),
        "Takeout/My Activity/Gemini Apps/MyActivity.html": "<html><body>Gemini Apps</body></html>",
        "Takeout/Chrome/History.json": {"Browser History": []},
        "Takeout/archive_browser.html": "<html></html>",
    }
    path = build.write_zip(tmp_path / "takeout-20260101T000000Z-001.zip", members)
    found = detect(path)
    assert "HTML twin ignored" in found.evidence
    result = run(path)
    assert len(result.conversations) == 2
    (report,) = [s for s in result.sides if s.kind == "activity_report"]
    assert report.data["html_ignored"] == ["Takeout/My Activity/Gemini Apps/MyActivity.html"]
    assert report.data["members_not_read"] == 4
    assert list(report.data["members"]) == ["Takeout/My Activity/Gemini Apps/MyActivity.json"]


def test_a_loose_folder_without_a_gemini_folder(detect, run, build, tmp_path):
    build.write_json(tmp_path / "export" / "activity.json", _turns(build, 3))
    assert detect(tmp_path / "export").provider == "gemini"
    assert len(run(tmp_path / "export").conversations) == 3


def test_an_empty_activity_file_in_a_gemini_folder(detect, run, build, tmp_path):
    path = build.write_zip(tmp_path / "t.zip", {"Takeout/My Activity/Gemini Apps/MyActivity.json": []})
    found = detect(path)
    assert found.confidence == 0.6
    result = run(path)
    assert result.conversations == [] and [s.kind for s in result.sides] == ["activity_report"]


def test_takeouts_gemini_product_is_not_activity(detect, build, tmp_path):
    """Takeout's separate "Gemini" product (Gems, scheduled actions) is not the activity export."""
    path = build.write_zip(tmp_path / "t.zip", {"Takeout/Gemini/gems.json": [],
                                                "Takeout/Gemini/scheduled.json": [{"a": 1}]})
    assert detect(path) is None


def test_gemini_records_without_prompts_get_a_lower_confidence(detect, build, tmp_path):
    path = build.write_json(tmp_path / "MyActivity.json", [build.rec("Used Gemini Apps", "2026-01-01T00:00:00Z")])
    assert detect(path).confidence == 0.8


def test_other_products_alone_are_not_claimed(detect, build, tmp_path):
    youtube = build.write_json(tmp_path / "MyActivity.json",
                               [build.other("YouTube", "Watched x", "2026-01-01T00:00:00Z")])
    assert detect(youtube) is None
    not_activity = build.write_json(tmp_path / "conversations.json", [{"id": "1", "mapping": {}}])
    assert detect(not_activity) is None
    obj = build.write_json(tmp_path / "obj.json", {"header": "Gemini Apps"})
    assert detect(obj) is None


def test_html_only_is_detected_weakly_and_refused_clearly(detect, pm, build, tmp_path):
    path = build.write_zip(tmp_path / "takeout.zip", {
        "Takeout/My Activity/Gemini Apps/MyActivity.html": "<html><body><p>Gemini Apps</p></body></html>",
        "Takeout/My Activity/Gemini Apps/image-1.png": b"\x89PNG"})
    found = detect(path)
    assert found.variant == "my-activity-html-only" and found.confidence == 0.5
    with ExportSource(path) as source, pytest.raises(ParseError) as caught:
        pm.parse("gemini", source)
    message = str(caught.value)
    assert "only the HTML form" in message and "MyActivity.html" in message and "JSON" in message


def test_a_bare_html_file(detect, pm, build, tmp_path):
    page = tmp_path / "MyActivity.html"
    page.write_text("<html><body><div class='header-cell'>Gemini Apps</div></body></html>", encoding="utf-8")
    assert detect(page).confidence == 0.4
    other = tmp_path / "page.html"
    other.write_text("<html><body>nothing here</body></html>", encoding="utf-8")
    assert detect(other) is None
    with ExportSource(other) as source, pytest.raises(ParseError, match="not a Gemini Apps activity export"):
        pm.parse("gemini", source)


def test_truncated_json_is_a_parse_error(pm, build, tmp_path):
    text = (build.takeout_json).read_bytes()
    path = tmp_path / "MyActivity.json"
    path.write_bytes(text[: len(text) // 2])
    with ExportSource(path) as source:
        with pytest.raises(ParseError, match="MyActivity.json"):
            list(pm.parse("gemini", source))


@pytest.mark.parametrize("provider", OTHER_PROVIDERS)
def test_other_plugins_do_not_claim_our_samples(provider, build):
    manager = plugin_manager_for(provider)
    for sample in build.samples.iterdir():
        with ExportSource(sample) as source:
            found, _ = manager.detect(source)
        assert [d for d in found if d.provider != "gemini"] == [], (provider, sample, found)


def _foreign_exports() -> list[Path]:
    paths: list[Path] = []
    for provider in OTHER_PROVIDERS:
        for listed in plugin_manager_for(provider).sample_exports().values():
            paths += [Path(p) for p in listed]
    if REAL is not None:
        paths += sorted(p for p in REAL.rglob("*") if p.is_file())
    return paths


def test_we_do_not_claim_other_providers_exports():
    manager = plugin_manager_for("gemini", gemini)
    claimed = []
    for path in _foreign_exports():
        with ExportSource(path) as source:
            found, errors = manager.detect(source)
        assert not errors, (path, errors)
        claimed += [(path.name, d.variant) for d in found if d.provider == "gemini"]
    assert claimed == []
