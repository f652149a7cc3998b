"""Flat memory: the first pass keeps no text, and only conversations still open are held while streaming."""

from __future__ import annotations

import json
import time
import tracemalloc
from itertools import chain

from moonshine_core.sources import ExportSource
from moonshine_gemini.parse import checked_layout, conversations, plan_export, sides


def _export(path, count, spacing_seconds, chat_every=0):
    """``count`` answered prompts, newest first, ``spacing_seconds`` apart; every ``chat_every``-th is linked."""
    records = []
    start = 1767261600
    for i in range(count):
        at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start + (count - i) * spacing_seconds))
        record = {"header": "Gemini Apps", "title": f"Prompted question {i}", "time": at, "products": ["Gemini Apps"],
                  "safeHtmlItem": [{"html": "<p>" + "an answer of some length " * 160 + "</p>"}]}
        if chat_every and i % chat_every == 0:
            url = "https://gemini.google.com/app/resumed"
            record["details"] = [{"name": url, "url": url}]
        records.append(record)
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def _stream(path):
    stats: dict[str, int] = {}
    with ExportSource(path) as source:
        plan = plan_export(source, checked_layout(source))
        raws = [(r.kind, len(r.data) if r.kind == "conversation" else 0)
                for r in chain(conversations(source, plan, stats), sides(source, plan))]
    return raws, stats


def test_memory_stays_far_below_the_file(tmp_path):
    path = _export(tmp_path / "MyActivity.json", 2000, 2400)   # 40 minutes apart: one session each
    size = path.stat().st_size
    tracemalloc.start()
    try:
        raws, stats = _stream(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(1 for kind, _ in raws if kind == "conversation") == 2000
    assert stats["peak_records_held"] == 1
    assert peak < size / 4, (peak, size)


def test_only_open_conversations_are_held(tmp_path):
    # sessions of three (10 minutes apart, 50-minute pauses) and one linked chat spanning the whole file
    records = []
    for i in range(30):
        at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(1767261600 + (30 - i) * 600 + (30 - i) // 3 * 3000))
        record = {"header": "Gemini Apps", "title": f"Prompted q{i}", "time": at, "products": ["Gemini Apps"]}
        if i in (0, 29):
            record["details"] = [{"url": "https://gemini.google.com/app/resumed"}]
        records.append(record)
    path = tmp_path / "MyActivity.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    raws, stats = _stream(path)
    sizes = sorted(n for kind, n in raws if kind == "conversation")
    assert sizes[-1] == 3 and 2 in sizes   # the linked chat (2 records) among the sessions
    assert stats["peak_records_held"] <= 4   # one session plus the open linked chat's first record
