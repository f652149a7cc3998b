"""The operator's workspace: its folder, its settings and every path of the standard layout.

A workspace is found as DESIGN.md section 2 says: an explicit folder, else
``$MOONSHINE_WORKSPACE``, else the current directory. Its settings live in
``moonshine.toml`` (all optional)::

    merge_order = ["qwen", "deepseek"]          # merge order lock
    contamination_tags = ["documentation", "stackoverflow", "web_crawl", "github_code"]
    allowed_source_kinds = ["provider_export"]  # what a canonical DB may hold (demo adds "synthetic_sample")
    tiktoken_file = "/path/to/o200k_base.tiktoken"   # default: the packaged copy
    ingest_workers = 2                          # default: one per core for large exports, 0 = in-process

    [lanes]
    enabled = ["dpo", "grpo", "agentic_code", "conversational"]
    eval_fraction = 0.1
    reasoning_policy = "drop"                   # or "keep_raw"
    max_tool_output_chars = 4000
    verify_code = false                         # GRPO: re-run logged code in the sandbox (executes export code)
    sandbox_timeout_s = 10.0                    # per sandboxed run: wall-clock seconds ...
    sandbox_memory_mb = 1024                    # ... and address space

    [mix]
    quotas = { chatgpt = 1000, claude = 2000 }  # rows per provider for --mix
    weights = { chatgpt = 1.0 }

    [redact]
    terms = ["Bobby", "Acacia Avenue"]          # also redacted from every row, as [REDACTED_PERSONAL]

Writers take the workspace lock (:meth:`Workspace.lock`), so two commands never
change the same workspace at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs

from .convert import structure
from .errors import RecordError, WorkspaceError

#: File descriptors of the workspace locks this process holds (see ``_release_in_child``).
_HELD_LOCKS: set[int] = set()


def _release_in_child() -> None:
    # A forked child (an ingest worker) shares the lock's open file, and flock keeps a lock while
    # any descriptor of it is open: a child outliving a killed parent would hold the workspace.
    # Closing (not unlocking) the child's copy leaves the parent's lock as it is.
    for fd in list(_HELD_LOCKS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_release_in_child)

SETTINGS_FILE = "moonshine.toml"
ENV_WORKSPACE = "MOONSHINE_WORKSPACE"
DEFAULT_CONTAMINATION_TAGS = ("documentation", "stackoverflow", "web_crawl", "github_code")
RUN_ID_RE = re.compile(r"^(?P<provider>[a-z0-9][a-z0-9_-]*)_(?P<stamp>\d{8}_\d{6})$")


@attrs.define(kw_only=True)
class LaneSettings:
    """``[lanes]`` of ``moonshine.toml``; ``enabled`` unset means every registered lane.

    ``verify_code`` lets the GRPO lane re-run logged code in :mod:`moonshine_core.sandbox`
    (``moonshine distill --verify-code``): off by default, because that executes code found in an
    export. ``sandbox_timeout_s`` and ``sandbox_memory_mb`` limit each run (re-runs at distill time,
    and the reward functions' runs of the rows, which carry them in ``verification_info``).
    """

    enabled: list[str] | None = None
    eval_fraction: float = 0.1
    reasoning_policy: str = "drop"
    max_tool_output_chars: int = 4000
    min_turns: int = 1
    verify_code: bool = False
    sandbox_timeout_s: float = 10.0
    sandbox_memory_mb: int = 1024


@attrs.define(kw_only=True)
class MixSettings:
    """``[mix]`` of ``moonshine.toml``: per-provider quotas (rows) or weights for ``distill --mix``."""

    quotas: dict[str, int] = attrs.field(factory=dict)
    weights: dict[str, float] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class RedactSettings:
    """``[redact]`` of ``moonshine.toml``: values to remove from every dataset row that the export
    itself does not name (a nickname, a street, a colleague), redacted like profile values."""

    terms: list[str] = attrs.field(factory=list)


@attrs.define(kw_only=True)
class Settings:
    """Everything ``moonshine.toml`` may say, with defaults."""

    merge_order: list[str] = attrs.field(factory=list)
    contamination_tags: list[str] = attrs.field(factory=lambda: list(DEFAULT_CONTAMINATION_TAGS))
    allowed_source_kinds: list[str] = attrs.field(factory=lambda: ["provider_export"])
    tiktoken_file: str | None = None
    #: Worker processes for ingest: ``None`` picks by export size and cores, ``0`` works in-process.
    ingest_workers: int | None = None
    lanes: LaneSettings = attrs.field(factory=LaneSettings)
    mix: MixSettings = attrs.field(factory=MixSettings)
    redact: RedactSettings = attrs.field(factory=RedactSettings)


def load_settings(path: Path) -> Settings:
    """Read ``moonshine.toml``; a missing file gives the defaults, a bad one a one-line error."""
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{path}: not valid TOML ({exc})") from exc
    known = {f.name for f in attrs.fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise WorkspaceError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    _check_redact(path, data.get("redact"))
    try:
        return structure(data, Settings)
    except RecordError as exc:
        raise WorkspaceError(f"{path}: {exc}") from exc


def _check_redact(path: Path, table: object) -> None:
    """``[redact]`` holds only ``terms``, a list of strings (a bare string would be read letter by letter)."""
    if table is None:
        return
    if not isinstance(table, dict):
        raise WorkspaceError(f"{path}: redact must be a table ([redact] terms = [...])")
    unknown = sorted(set(table) - {"terms"})
    if unknown:
        raise WorkspaceError(f"{path}: unknown setting(s) redact.{', redact.'.join(unknown)}; known: redact.terms")
    terms = table.get("terms", [])
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise WorkspaceError(f"{path}: redact.terms must be a list of strings, e.g. terms = [\"Bobby\"]")


def resolve_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The workspace folder: ``explicit``, else ``$MOONSHINE_WORKSPACE``, else the current directory."""
    chosen = explicit or os.environ.get(ENV_WORKSPACE) or os.getcwd()
    return Path(chosen).expanduser().resolve()


class Workspace:
    """A workspace folder and its layout. The notebook entry point::

        import moonshine_core
        ws = moonshine_core.Workspace.open("~/moonshine")
        ws.runs()            # provider runs staged under reports/providers
    """

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = resolve_root(root)
        self.settings = load_settings(self.root / SETTINGS_FILE)

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> "Workspace":
        """The workspace at ``root`` (see :func:`resolve_root`); the folder need not exist yet."""
        return cls(root)

    def is_workspace(self) -> bool:
        """Whether the folder holds a workspace yet: settings, reports or an archive."""
        return any(p.exists() for p in (self.settings_path, self.reports_dir, self.archive_dir))

    def require_existing(self) -> "Workspace":
        """``self``, or a :class:`WorkspaceError` when the folder is not a workspace (a mistyped
        ``--workspace`` should not read as an empty corpus)."""
        if not self.is_workspace():
            state = "does not exist" if not self.root.exists() else "is not a Moonshine workspace"
            raise WorkspaceError(f"{self.root} {state} (no {SETTINGS_FILE}, reports/ or archive/); "
                                 "pass --workspace DIR or set $MOONSHINE_WORKSPACE, or ingest an export "
                                 "there first")
        return self

    # -- layout (DESIGN.md section 2) --------------------------------------------
    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    def provider_run_dir(self, provider: str, run_id: str) -> Path:
        return self.reports_dir / "providers" / provider / run_id

    def run_db_path(self, provider: str, run_id: str) -> Path:
        return self.provider_run_dir(provider, run_id) / f"moonshine_{provider}_{run_id}.db"

    def run_ledger_path(self, provider: str, run_id: str) -> Path:
        return self.provider_run_dir(provider, run_id) / f"token_ledger.{provider}.{run_id}.json"

    def run_manifest_path(self, provider: str, run_id: str) -> Path:
        return self.provider_run_dir(provider, run_id) / "manifest.json"

    def archive_run_dir(self, provider: str, run_id: str) -> Path:
        return self.archive_dir / provider / run_id

    def premerge_snapshot_path(self, run_id: str) -> Path:
        return self.archive_dir / "main" / run_id / "moonshine_mash_premerge.db"

    @property
    def main_dir(self) -> Path:
        return self.reports_dir / "main"

    @property
    def mash_path(self) -> Path:
        return self.main_dir / "moonshine_mash_active.db"

    @property
    def main_ledger_path(self) -> Path:
        return self.main_dir / "token_ledger.main.json"

    @property
    def merge_manifest_path(self) -> Path:
        return self.main_dir / "merge_manifest.main.json"

    def distill_dir(self, lane: str, run_id: str) -> Path:
        return self.reports_dir / "distillations" / lane / run_id

    @property
    def token_forensics_path(self) -> Path:
        return self.root / "TOKEN_FORENSICS_README.md"

    @property
    def status_log_path(self) -> Path:
        return self.root / "PROJECT_MOONSHINE_UPDATE_1.md"

    @property
    def overview_path(self) -> Path:
        return self.root / "docs" / "Moonshine-Project-Overview.md"

    @property
    def state_dir(self) -> Path:
        """Private working area (lock file, runs being built); never part of the layout users read."""
        return self.root / ".moonshine"

    @property
    def staging_dir(self) -> Path:
        return self.state_dir / "staging"

    @property
    def cache_dir(self) -> Path:
        """Caches that only save work (token counts, distilled rows): deleting them loses nothing."""
        return self.state_dir / "cache"

    # -- runs ---------------------------------------------------------------------
    def run_ids(self) -> list[tuple[str, str]]:
        """``(provider, run_id)`` of every provider run under ``reports/providers``, oldest first."""
        base = self.reports_dir / "providers"
        found = []
        if base.is_dir():
            for provider_dir in sorted(p for p in base.iterdir() if p.is_dir()):
                for run_dir in sorted(p for p in provider_dir.iterdir() if p.is_dir()):
                    if RUN_ID_RE.match(run_dir.name):
                        found.append((provider_dir.name, run_dir.name))
        return sorted(found, key=lambda pr: (RUN_ID_RE.match(pr[1]).group("stamp"), pr[1]))

    def find_run(self, run_id: str) -> str:
        """The provider of ``run_id``, or a one-line error listing what runs exist."""
        match = RUN_ID_RE.match(run_id)
        if not match:
            raise WorkspaceError(f"{run_id!r} is not a run id (expected <provider>_YYYYMMDD_HHMMSS)")
        provider = match.group("provider")
        if not self.provider_run_dir(provider, run_id).is_dir():
            known = ", ".join(r for _, r in self.run_ids()) or "none"
            raise WorkspaceError(f"no run {run_id} in workspace {self.root} (runs: {known})")
        return provider

    def run_id_taken(self, run_id: str) -> bool:
        """True when the id is used by a staged, archived or snapshotted run (ids are never reused)."""
        provider = RUN_ID_RE.match(run_id).group("provider") if RUN_ID_RE.match(run_id) else ""
        return any(p.exists() for p in (self.provider_run_dir(provider, run_id),
                                        self.archive_run_dir(provider, run_id),
                                        self.premerge_snapshot_path(run_id).parent))

    # -- locking ------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the workspace's writer lock; another writer gets a one-line error at once."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "lock"
        handle = open(path, "a+")
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise WorkspaceError(f"workspace {self.root} is locked by {holder}; "
                                     "wait for it to finish") from exc
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            _HELD_LOCKS.add(handle.fileno())
            yield
        finally:
            _HELD_LOCKS.discard(handle.fileno())
            handle.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"
