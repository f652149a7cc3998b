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
    ``1`` makes any plugin failure fatal: a load error, or an exception
    raised by a hook implementation (for CI and tests).
``MOONSHINE_TRACE_PLUGINS``
    ``1`` logs every hook call to stderr: hook, arguments, the plugin that
    answered, what it returned and how long it took.

A provider plugin's entry-point name is its provider name, and the plugin
must say that name (``ProviderPlugin(provider, ...)`` of
:mod:`moonshine_core.provider`, or a module-level ``PROVIDER``): the two are
checked when the plugin loads, and every detection it returns must name it.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import pluggy

from . import __version__, hookspecs
from .errors import MoonshineError, NormalizeError, PluginError
from .lane import Lane
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


def _env_flag(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in ("1", "true", "yes")


#: Hooks only a provider plugin implements; such a plugin must declare its provider name.
PROVIDER_HOOKS = frozenset({"moonshine_detect", "moonshine_parse", "moonshine_normalize"})


def declared_provider(plugin: Any) -> str | None:
    """The provider name a plugin declares: ``plugin.provider`` (ProviderPlugin) or a module's ``PROVIDER``."""
    for attr in ("provider", "PROVIDER"):
        value = getattr(plugin, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


class PluginManager:
    """The core's plugin manager: a pluggy manager plus load reporting and typed hook calls."""

    def __init__(self, *, strict: bool | None = None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.strict = _env_flag("MOONSHINE_STRICT_PLUGINS") if strict is None else strict
        self.trace = _env_flag("MOONSHINE_TRACE_PLUGINS")
        self.infos: dict[str, PluginInfo] = {}
        #: Hook calls that raised, by ``plugin_error:<plugin>:<ExceptionType>`` (see :meth:`_call`).
        self.hook_failures: Counter[str] = Counter()
        #: Lane name -> the plugin that registered it (filled by :meth:`lanes`).
        self.lane_owners: dict[str, str] = {}

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
        if PROVIDER_HOOKS & set(hooks) and not builtin:
            declared = declared_provider(plugin)
            problem = None
            if declared is None:
                problem = ("implements provider hooks but does not say its provider name: register a "
                           "moonshine_core.provider.ProviderPlugin, or set PROVIDER = '<name>' in the module")
            elif declared != name:
                problem = (f"declares provider {declared!r} but is registered as {name!r}: the entry-point "
                           f"name must be the provider name (`{declared} = ...` in [project.entry-points.moonshine])")
            if problem:
                self.pm.unregister(plugin)
                return self._failed(name, distribution, version, problem, builtin)
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

    # -- calling hooks ------------------------------------------------------------
    # Every hook call goes through ``_call``: one place for isolation, tracing and the strict switch.
    def _impls(self, hook_name: str, plugin: str | None = None) -> list[Any]:
        impls = list(reversed(getattr(self.pm.hook, hook_name).get_hookimpls()))
        if plugin is not None:
            impls = [i for i in impls if i.plugin_name == plugin]
        return impls

    def _call(self, hook_name: str, kwargs: dict[str, Any], *, plugin: str | None = None,
              expected: tuple[type[BaseException], ...] = (), failures: Counter[str] | None = None,
              raised: list[tuple[str, Exception]] | None = None,
              strict: bool | None = None) -> list[tuple[str, Any]]:
        """Call ``hook_name`` on every implementation (or on ``plugin``'s only); ``(plugin, result)`` pairs.

        An exception of a type in ``expected`` is the hook's documented way to
        fail and propagates. Any other exception is the plugin's bug: it is
        reported (``failures`` and :attr:`hook_failures` count it under
        ``plugin_error:<plugin>:<ExceptionType>``) and that plugin's result is
        skipped, so one broken plugin never takes a command down. Strict mode
        (``MOONSHINE_STRICT_PLUGINS=1``) raises :class:`PluginError` instead.
        ``raised`` collects ``(plugin, exception)`` for messages; ``strict``
        overrides the manager's strictness for this call.
        """
        results: list[tuple[str, Any]] = []
        for impl in self._impls(hook_name, plugin):
            ok, result = self.guarded(impl.plugin_name, hook_name, impl.function, kwargs=_args(impl, **kwargs),
                                      expected=expected, failures=failures, raised=raised, strict=strict)
            if ok:
                results.append((impl.plugin_name, result))
        return results

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin, result)`` of every implementation of ``hook_name`` (for tools and the contract kit)."""
        return self._call(hook_name, kwargs)

    def guarded(self, owner: str, label: str, function: Any, args: tuple = (), kwargs: dict[str, Any] | None = None, *,
                expected: tuple[type[BaseException], ...] = (), failures: Counter[str] | None = None,
                raised: list[tuple[str, Exception]] | None = None,
                strict: bool | None = None) -> tuple[bool, Any]:
        """Run one piece of a plugin's code under the policy for a broken plugin; ``(ok, result)``.

        Hook calls and the methods of registered objects (a lane's ``emit``)
        both go through here, so they share one policy: ``expected``
        exceptions propagate, anything else is counted (in ``failures`` and
        :attr:`hook_failures`, as ``plugin_error:<owner>:<ExceptionType>``)
        and skipped, or raised as :class:`PluginError` in strict mode.
        """
        started = time.perf_counter() if self.trace else 0.0
        try:
            result = function(*args, **(kwargs or {}))
        except expected:
            raise
        except Exception as exc:  # a plugin's bug: counted and skipped (or fatal when strict)
            key = f"plugin_error:{owner}:{type(exc).__name__}"
            self.hook_failures[key] += 1
            if failures is not None:
                failures[key] += 1
            if raised is not None:
                raised.append((owner, exc))
            if self.trace:
                _trace(label, owner, args, kwargs, f"raised {type(exc).__name__}: {exc}", started)
            if self.strict if strict is None else strict:
                raise PluginError(f"plugin {owner!r}: {label} failed: {type(exc).__name__}: {exc}") from exc
            return False, None
        if self.trace:
            _trace(label, owner, args, kwargs, _summary(result), started)
        return True, result

    def _provider_call(self, hook_name: str, provider: str, **kwargs: Any) -> Any:
        """The result of ``provider``'s own implementation (provider hooks are answered by one plugin).

        Exceptions propagate: a provider's parse or normalize failure is about
        the export, and its caller (ingest) decides what it costs.
        """
        if not self._impls(hook_name, provider):
            raise PluginError(f"no installed plugin {'parses' if hook_name == 'moonshine_parse' else 'normalizes'} "
                              f"provider {provider!r}")
        results = self._call(hook_name, {"provider": provider, **kwargs}, plugin=provider, expected=(Exception,))
        if not results or results[0][1] is None:
            raise PluginError(f"plugin {provider!r} did not answer {hook_name} for its own provider")
        return results[0][1]

    def detect(self, source: ExportSource) -> tuple[list[Detection], list[str]]:
        """Ask every plugin; returns detections (best first) and per-plugin errors.

        Each plugin is called on its own so one failing detector cannot hide
        the others. A detection must name its own plugin as the provider.
        """
        found: list[Detection] = []
        raised: list[tuple[str, Exception]] = []
        # A detector runs on exports that are not its plugin's: its failure is reported, never fatal.
        results = self._call("moonshine_detect", {"source": source}, raised=raised, strict=False)
        errors = [f"{name}: detect failed: {type(exc).__name__}: {exc}" for name, exc in raised]
        for name, result in results:
            if result is None:
                continue
            if not isinstance(result, Detection):
                errors.append(f"{name}: detect returned {type(result).__name__}, not Detection")
                continue
            if result.provider != name:
                errors.append(f"{name}: detect returned provider {result.provider!r}; a plugin detects "
                              f"only its own provider ({name!r})")
                continue
            found.append(result)
        found.sort(key=lambda d: -d.confidence)
        return found, errors

    def parse_result(self, provider: str, source: ExportSource) -> Any:
        """What ``provider``'s ``moonshine_parse`` returned, unchanged (the contract kit checks its type)."""
        return self._provider_call("moonshine_parse", provider, source=source)

    def parse(self, provider: str, source: ExportSource) -> Iterator[RawRecord]:
        """Iterator of ``provider``'s raw records for ``source``."""
        return iter(self.parse_result(provider, source))

    def normalize(self, provider: str, raw: RawRecord) -> list[Record]:
        """``provider``'s records for one raw record; a plugin's unexpected exception becomes NormalizeError."""
        try:
            return list(self._provider_call("moonshine_normalize", provider, raw=raw))
        except MoonshineError:
            raise
        except Exception as exc:  # undocumented exception from a plugin: this record is lost, not the run
            raise NormalizeError(f"{raw.location()}: plugin error "
                                 f"{type(exc).__name__}: {exc}") from exc

    def score(self, conversation: Conversation, failures: Counter[str] | None = None) -> list[Score]:
        """Every plugin's scores of one conversation (a raising scorer is counted in ``failures``)."""
        scores: list[Score] = []
        for _, result in self._call("moonshine_score", {"conversation": conversation}, failures=failures):
            if result:
                scores.extend(result)
        return scores

    def emit(self, lane: str, conversation: Conversation, context: Any,
             failures: Counter[str] | None = None) -> list[dict]:
        """Rows other plugins add to ``lane`` for one conversation (``moonshine_emit``)."""
        rows: list[dict] = []
        for _, result in self._call("moonshine_emit", {"lane": lane, "conversation": conversation,
                                                       "context": context}, failures=failures):
            if result:
                rows.extend(result)
        return rows

    def lanes(self) -> dict[str, Lane]:
        """Every registered lane by name (``moonshine_lanes``), built-in lanes first.

        A plugin that returns something other than a
        :class:`~moonshine_core.lane.Lane`, or a name already taken,
        is reported in :attr:`hook_failures` and that lane is skipped.
        """
        lanes: dict[str, Lane] = {}
        builtin_first = sorted(self._call("moonshine_lanes", {}),
                               key=lambda pair: not self.infos.get(pair[0], PluginInfo(pair[0])).builtin)
        for name, result in builtin_first:
            for lane in result or []:
                if not isinstance(lane, Lane):
                    self.hook_failures[f"plugin_error:{name}:lane_not_a_Lane"] += 1
                elif lane.name in lanes:
                    self.hook_failures[f"plugin_error:{name}:lane_name_taken:{lane.name}"] += 1
                else:
                    lanes[lane.name] = lane
                    self.lane_owners[lane.name] = name
        return lanes

    def sample_exports(self) -> dict[str, list[str]]:
        """Sample exports each plugin ships, by plugin name (for ``moonshine demo``)."""
        samples: dict[str, list[str]] = {}
        raised: list[tuple[str, Exception]] = []
        for name, paths in self._call("moonshine_sample_exports", {}, raised=raised):
            if paths:
                samples[name] = [str(p) for p in paths]
        for name, exc in raised:   # a plugin's bug must not hide the other samples
            self.infos.setdefault(name, PluginInfo(name=name)).error = \
                f"sample_exports failed: {type(exc).__name__}: {exc}"
        return samples


def _trace(hook: str, plugin: str, args: tuple, kwargs: dict[str, Any] | None, outcome: str, started: float) -> None:
    shown = ", ".join([_short(v) for v in args] + [f"{k}={_short(v)}" for k, v in (kwargs or {}).items()])
    print(f"moonshine trace: {hook}({shown}) -> {plugin}: {outcome} "
          f"[{(time.perf_counter() - started) * 1000:.1f} ms]", file=sys.stderr)


def _short(value: Any) -> str:
    for attr in ("conversation_id", "path", "kind"):
        if hasattr(value, attr):
            return f"<{type(value).__name__} {getattr(value, attr)}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _summary(result: Any) -> str:
    if result is None:
        return "None"
    if isinstance(result, (list, tuple)):
        return f"{len(result)} item(s)"
    return type(result).__name__


def _args(impl: Any, **available: Any) -> dict[str, Any]:
    return {name: available[name] for name in impl.argnames if name in available}


def _core_version() -> str:
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
