"""Finding, loading and calling plugins.

Provider plugins are found through the ``moonshine`` entry-point group and
loaded one at a time, so one broken plugin is reported and skipped instead of
taking the CLI down. Built-in behaviour (default scorers, the lanes) is
registered through the same hooks as built-in plugins.

Environment variables:

``MOONSHINE_LOAD_PLUGINS``
    Comma-separated allow-list of plugin names (entry-point name or
    distribution name). Set but empty: load no external plugin.
``MOONSHINE_BLOCK_PLUGINS``
    Comma-separated names never to load.
``MOONSHINE_STRICT_PLUGINS``
    ``1`` makes any load error fatal (for CI).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import PluginError
from .records import Conversation, Detection, RawRecord, Record, Score
from .sources import ExportSource

ENTRY_POINT_GROUP = "moonshine"

#: Modules of the core registered as built-in plugins, in order.
BUILTIN_PLUGINS: tuple[str, ...] = ("moonshine_core.builtin.scorers", "moonshine_core.builtin.quality",
                                   "moonshine_core.builtin.lanes")


@attrs.define
class PluginInfo:
    """One line of ``moonshine plugins``."""

    name: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = attrs.field(factory=list)
    builtin: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _names_from_env(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _env_strict() -> bool:
    return os.environ.get("MOONSHINE_STRICT_PLUGINS", "").strip().lower() in ("1", "true", "yes")


class PluginManager:
    """The core's plugin manager: a pluggy manager plus load reporting and typed hook calls."""

    def __init__(self, *, strict: bool | None = None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.strict = _env_strict() if strict is None else strict
        self.infos: dict[str, PluginInfo] = {}

    # -- loading ----------------------------------------------------------------
    def register(self, plugin: Any, name: str, *, distribution: str | None = None,
                 version: str | None = None, builtin: bool = False) -> bool:
        """Register one plugin object or module; report (or, strict, raise) when it is invalid."""
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy raises ValueError / PluginValidationError
            return self._failed(name, distribution, version, f"cannot register: {exc}", builtin)
        unknown = [c.name for c in self.pm.get_hookcallers(plugin) or [] if c.spec is None]
        if unknown:
            self.pm.unregister(plugin)
            return self._failed(name, distribution, version,
                                f"implements hooks the core does not know: {', '.join(sorted(unknown))}", builtin)
        hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
        self.infos[name] = PluginInfo(name=name, distribution=distribution, version=version,
                                      hooks=hooks, builtin=builtin)
        return True

    def _failed(self, name: str, distribution: str | None, version: str | None, message: str,
                builtin: bool = False) -> bool:
        self.infos[name] = PluginInfo(name=name, distribution=distribution, version=version,
                                      builtin=builtin, error=message)
        if self.strict:
            raise PluginError(f"plugin {name!r}: {message}")
        return False

    def load_builtins(self) -> None:
        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            self.register(module, name=f"builtin-{module_name.rsplit('.', 1)[-1]}",
                          distribution="moonshine-core", version=_core_version(), builtin=True)

    def load_entrypoints(self, allow: set[str] | None = None, block: set[str] | None = None) -> None:
        """Load the ``moonshine`` entry points one by one, isolating failures."""
        allow = _names_from_env("MOONSHINE_LOAD_PLUGINS") if allow is None else allow
        block = (_names_from_env("MOONSHINE_BLOCK_PLUGINS") or set()) if block is None else block
        seen: set[str] = set()
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in seen:
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            names = {ep.name, dist_name} - {None}
            if allow is not None and not names & allow:
                continue
            if names & block:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # any import-time failure of a third-party plugin
                self._failed(ep.name, dist_name, version, f"failed to import: {type(exc).__name__}: {exc}")
                continue
            self.register(plugin, name=ep.name, distribution=dist_name, version=version)

    # -- reporting --------------------------------------------------------------
    def plugin_infos(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or failed: built-ins first, then by name."""
        return sorted(self.infos.values(), key=lambda i: (not i.builtin, i.name))

    def load_errors(self) -> list[PluginInfo]:
        return [i for i in self.plugin_infos() if i.error]

    def providers(self) -> list[str]:
        """Names of loaded plugins that implement parsing (provider plugins)."""
        return [i.name for i in self.plugin_infos() if not i.error and "moonshine_parse" in i.hooks]

    # -- typed hook calls -------------------------------------------------------
    def _each(self, hook_name: str) -> Iterator[tuple[str, Any]]:
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
            yield impl.plugin_name, impl

    def detect(self, source: ExportSource) -> tuple[list[Detection], list[str]]:
        """Ask every plugin; returns detections (best first) and per-plugin errors.

        Each plugin is called on its own so one failing detector cannot hide
        the others.
        """
        found: list[Detection] = []
        errors: list[str] = []
        for name, impl in self._each("moonshine_detect"):
            try:
                result = impl.function(**_args(impl, source=source))
            except Exception as exc:  # a detector must never take detection down
                errors.append(f"{name}: detect failed: {type(exc).__name__}: {exc}")
                continue
            if result is None:
                continue
            if not isinstance(result, Detection):
                errors.append(f"{name}: detect returned {type(result).__name__}, not Detection")
                continue
            found.append(result)
        found.sort(key=lambda d: -d.confidence)
        return found, errors

    def parse(self, provider: str, source: ExportSource) -> Iterator[RawRecord]:
        result = self.pm.hook.moonshine_parse(provider=provider, source=source)
        if result is None:
            raise PluginError(f"no installed plugin parses provider {provider!r}")
        return iter(result)

    def normalize(self, provider: str, raw: RawRecord) -> list[Record]:
        result = self.pm.hook.moonshine_normalize(provider=provider, raw=raw)
        if result is None:
            raise PluginError(f"no installed plugin normalizes provider {provider!r}")
        return list(result)

    def score(self, conversation: Conversation) -> list[Score]:
        scores: list[Score] = []
        for result in self.pm.hook.moonshine_score(conversation=conversation):
            if result:
                scores.extend(result)
        return scores

    def emit(self, lane: str, conversation: Conversation, context: Any) -> list[dict]:
        rows: list[dict] = []
        for result in self.pm.hook.moonshine_emit(lane=lane, conversation=conversation, context=context):
            if result:
                rows.extend(result)
        return rows

    def sample_exports(self) -> dict[str, list[str]]:
        """Sample exports each plugin ships, by plugin name (for ``moonshine demo``)."""
        samples: dict[str, list[str]] = {}
        for name, impl in self._each("moonshine_sample_exports"):
            try:
                paths = impl.function()
            except Exception as exc:  # a plugin's bug must not hide the other samples
                self.infos.get(name, PluginInfo(name=name)).error = f"sample_exports failed: {exc}"
                continue
            if paths:
                samples[name] = [str(p) for p in paths]
        return samples


def _args(impl: Any, **available: Any) -> dict[str, Any]:
    return {name: available[name] for name in impl.argnames if name in available}


def _core_version() -> str:
    from . import __version__

    return __version__


def make_plugin_manager(*, load_entrypoints: bool = True, builtins: bool = True,
                        allow: Iterable[str] | None = None, block: Iterable[str] | None = None,
                        strict: bool | None = None, extra: Iterable[tuple[str, Any]] = ()) -> PluginManager:
    """A fresh plugin manager (no global state: tests build their own).

    ``extra`` registers ``(name, plugin)`` pairs after the entry points, which
    is how tests add a plugin that is not installed.
    """
    manager = PluginManager(strict=strict)
    if builtins:
        manager.load_builtins()
    if load_entrypoints:
        manager.load_entrypoints(allow=set(allow) if allow is not None else None,
                                 block=set(block) if block is not None else None)
    for name, plugin in extra:
        manager.register(plugin, name=name)
    return manager
