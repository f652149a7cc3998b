"""Contract kit for provider-plugin authors (needs the ``test`` extra: pytest).

Subclass :class:`ProviderContract` in your plugin's tests, name your provider
and point it at a sample export you wrote::

    from moonshine_core.testing import ProviderContract
    import my_plugin

    class TestContract(ProviderContract):
        provider = "myprovider"
        plugin = my_plugin            # or None to load it through its entry point
        samples = [Path(__file__).parent / "data" / "sample_export.json"]

pytest then runs every ``test_contract_*`` method on every sample: detect
recognises it; parse streams (returns an iterator, not a list); normalize yields
valid records that round-trip through the converter; ids are identical across
two runs; trees have no dangling parents or cycles and the active leaf exists;
and a real ingest of the sample into a temporary workspace passes the core's
raw-only gates (every conversation normalised, trees intact, message counts
equal to the plugin's own raw counts).

Fixtures for a plugin's own tests (``pytest_plugins = ["moonshine_core.testing"]``
in its ``conftest.py``): ``moonshine_workspace`` (an empty workspace in a
temporary folder) and ``moonshine_ingest`` (ingest an export into it).

:func:`check_provider` runs the same checks outside pytest and returns the
problems found; :func:`check_records` runs the record checks alone (round
trip, sound tree), for property tests on mutated exports.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .convert import record_from_dict, record_to_dict
from .errors import NormalizeError
from .ingest import ingest
from .plugins import PluginManager, make_plugin_manager
from .records import RECORD_TYPES, Conversation, RawRecord
from .sources import ExportSource
from .trees import check_tree
from .workspace import Workspace


def real_exports_dir(start: str | Path | None = None) -> Path | None:
    """The shared folder of real exports, or ``None`` when it is absent.

    ``$MOONSHINE_REAL_EXPORTS`` wins; otherwise the first ``shared/real-exports``
    found beside ``start`` (default: the current directory) or any of its
    parents. Acceptance tests skip when this returns ``None``.
    """
    env = os.environ.get("MOONSHINE_REAL_EXPORTS")
    if env:
        return Path(env) if Path(env).is_dir() else None
    here = Path(start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        candidate = folder / "shared" / "real-exports"
        if candidate.is_dir():
            return candidate
    return None


def real_export_files(provider_folder: str, start: str | Path | None = None) -> list[Path]:
    """Files in ``real-exports/<provider_folder>/``, sorted; empty when the folder is absent."""
    root = real_exports_dir(start)
    if root is None or not (root / provider_folder).is_dir():
        return []
    return sorted(p for p in (root / provider_folder).iterdir() if p.is_file())


def plugin_manager_for(provider: str, plugin: Any = None) -> PluginManager:
    """A manager with the built-ins and only ``provider`` (registered directly, or from its entry point)."""
    if plugin is not None:
        return make_plugin_manager(load_entrypoints=False, extra=[(provider, plugin)], strict=True)
    return make_plugin_manager(allow={provider}, block=set(), strict=True)


def normalize_all(pm: PluginManager, provider: str, path: str | Path) -> tuple[list[Any], list[str]]:
    """Parse and normalise a whole export; returns the records and the per-record failures."""
    records: list[Any] = []
    failures: list[str] = []
    with ExportSource(path) as source:
        for raw in pm.parse(provider, source):
            try:
                records.extend(pm.normalize(provider, raw))
            except NormalizeError as exc:
                failures.append(f"{raw.kind} #{raw.index}: {exc}")
    return records, failures


def _identity(records: list[Any]) -> list[tuple]:
    out = []
    for record in records:
        if isinstance(record, Conversation):
            out.append(("conversation", record.conversation_id,
                        tuple((m.message_id, m.parent_id) for m in record.messages), record.current_leaf_id))
        else:
            out.append((type(record).__name__, getattr(record, "feedback_id", None) or
                        getattr(record, "comparison_id", None) or getattr(record, "record_id", None)))
    return out


def check_records(records: list[Any]) -> list[str]:
    """Problems with normalised records (empty = none): each must be a record type, survive a
    converter round trip unchanged, and (conversations) be a sound tree whose active leaf exists.

    Plugins' property tests call it on records normalised from mutated exports.
    """
    problems: list[str] = []
    for record in records:
        if not isinstance(record, RECORD_TYPES):
            problems.append(f"normalize: returned {type(record).__name__}, not a record")
            continue
        try:
            again = record_from_dict(record_to_dict(record))
        except Exception as exc:  # report, don't crash the suite
            problems.append(f"normalize: record does not round-trip: {exc}")
            continue
        if again != record:
            problems.append(f"normalize: {type(record).__name__} changes in a converter round trip")
        if isinstance(record, Conversation):
            tree = check_tree(record.messages)
            problems += [f"conversation {record.conversation_id}: {p}" for p in tree]
            ids = {m.message_id for m in record.messages}
            if record.messages and record.current_leaf_id not in ids:
                problems.append(f"conversation {record.conversation_id}: active leaf "
                                f"{record.current_leaf_id!r} is not one of its messages")
    return problems


def check_provider(pm: PluginManager, provider: str, path: str | Path) -> list[str]:
    """Every contract check on one sample export; returns the problems (empty = passes)."""
    problems: list[str] = []
    with ExportSource(path) as source:
        detections, errors = pm.detect(source)
        problems += errors
        if not detections or detections[0].provider != provider:
            problems.append(f"detect: best match is {detections[0].provider if detections else None!r}, "
                            f"expected {provider!r}")
        parsed = pm.parse_result(provider, source)
        if parsed is None:
            problems.append(f"parse: no plugin parses provider {provider!r}")
            parsed = []
        elif not isinstance(parsed, Iterator):
            problems.append("parse: must return an iterator (a generator), not a materialised "
                            f"{type(parsed).__name__}")
        raws = list(parsed)
    if not raws:
        problems.append("parse: yielded no raw records")
    for raw in raws:
        if not isinstance(raw, RawRecord):
            problems.append(f"parse: yielded {type(raw).__name__}, not RawRecord")
    first, failures = normalize_all(pm, provider, path)
    second, _ = normalize_all(pm, provider, path)
    problems += [f"normalize failed: {f}" for f in failures]
    if not any(isinstance(r, Conversation) for r in first):
        problems.append("normalize: no conversation in the sample")
    problems += check_records(first)
    if _identity(first) != _identity(second):
        problems.append("ids differ between two runs over the same export")
    return problems


@pytest.fixture
def moonshine_workspace(tmp_path: Path):
    """An empty workspace in a temporary folder."""
    return Workspace.open(tmp_path / "moonshine-workspace")


@pytest.fixture
def moonshine_ingest(moonshine_workspace):
    """``ingest(path, provider=None, pm=None)`` into ``moonshine_workspace``; returns the IngestResult."""
    def run(path: str | Path, provider: str | None = None, pm: PluginManager | None = None):
        return ingest(path, provider, workspace=moonshine_workspace, pm=pm)

    return run


class ProviderContract:
    """Base class of a plugin's contract tests (see the module docstring)."""

    provider: str = ""
    plugin: Any = None
    samples: list[Path] = []

    @pytest.fixture
    def contract_pm(self) -> PluginManager:
        return plugin_manager_for(self.provider, self.plugin)

    def _samples(self) -> list[Path]:
        if not self.samples:
            pytest.fail("ProviderContract subclass sets no samples")
        return [Path(s) for s in self.samples]

    def test_contract_detect(self, contract_pm: PluginManager) -> None:
        for sample in self._samples():
            with ExportSource(sample) as source:
                found, errors = contract_pm.detect(source)
            assert not errors, errors
            assert found and found[0].provider == self.provider, (sample, found)
            assert 0.0 < found[0].confidence <= 1.0
            assert found[0].variant

    def test_contract_parse_streams(self, contract_pm: PluginManager) -> None:
        for sample in self._samples():
            with ExportSource(sample) as source:
                result = contract_pm.parse_result(self.provider, source)
                assert inspect.isgenerator(result) or isinstance(result, Iterator), type(result)
                first = next(iter(result))
                assert isinstance(first, RawRecord)

    def test_contract_parse_ignores_other_providers(self, contract_pm: PluginManager) -> None:
        sample = self._samples()[0]
        with ExportSource(sample) as source:
            for name, impl_result in contract_pm.call_each("moonshine_parse", provider="no-such-provider",
                                                           source=source):
                assert impl_result is None, f"{name} answered moonshine_parse for another provider"

    def test_contract_records(self, contract_pm: PluginManager) -> None:
        for sample in self._samples():
            assert check_provider(contract_pm, self.provider, sample) == []

    def test_contract_ingest_passes_raw_gates(self, contract_pm: PluginManager, tmp_path: Path) -> None:
        for n, sample in enumerate(self._samples()):
            result = ingest(sample, self.provider, workspace=Workspace.open(tmp_path / f"ws{n}"), pm=contract_pm)
            failed = {k: g["evidence"] for k, g in result.manifest["gates_raw"].items() if not g["passed"]}
            assert not failed, (sample, failed)
            assert not result.manifest["not_normalised"], result.manifest["not_normalised"]


def json_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value (``()`` is the value itself), depth first."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += json_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += json_paths(item, prefix + (index,))
    return out


MUTATIONS = ("drop", "replace", "add_key", "duplicate", "rename_key")


def mutate_json(data: Any, doc: Any, values: Any, *, keys: list[str] | None = None, rounds: int = 4,
                keep_root: bool = False) -> Any:
    """A copy of ``doc`` changed at random places, for property tests of parsers (hypothesis).

    ``data`` is hypothesis's ``st.data()`` object and ``values`` a strategy of
    JSON values to put in. Between one and ``rounds`` times, at a random path:
    drop it, replace it by a drawn value, add a key to an object (from
    ``keys`` when given, so the plugin's own field names turn up in wrong
    places), duplicate a list item, or rename a key. ``keep_root`` never
    replaces the whole document.
    """
    from hypothesis import strategies as st   # the test extra; only property tests call this

    doc = copy.deepcopy(doc)
    key_strategy = st.sampled_from(keys) if keys else st.text(max_size=8)
    for _ in range(data.draw(st.integers(1, rounds), label="mutations")):
        paths = [p for p in json_paths(doc) if p or not keep_root]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        op = data.draw(st.sampled_from(MUTATIONS), label="op")
        if not path:
            if op == "replace":
                doc = data.draw(values, label="value")
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if op == "drop":
            del parent[last]
        elif op == "replace":
            parent[last] = data.draw(values, label="value")
        elif op == "add_key" and isinstance(parent[last], dict):
            parent[last][data.draw(key_strategy, label="key")] = data.draw(values, label="value")
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        elif op == "rename_key" and isinstance(parent, dict):
            parent[data.draw(key_strategy, label="key")] = parent.pop(last)
    return doc
