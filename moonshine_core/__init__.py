"""Moonshine: AI-assistant chat exports to a provenance-locked SQLite corpus and training data.

The public API for notebooks and plugins. Plugins import from here and from
the modules in :data:`PLUGIN_MODULES` and nothing else of the core (a test
holds every plugin under ``plugins/`` to that); they say which core versions
they work with through their package dependency (``moonshine-core>=0.1,<0.2``).
"""

from __future__ import annotations

__version__ = "0.1.0"

#: The core modules a plugin (its code and its tests) may import; see docs/writing_a_provider_plugin.md.
PLUGIN_MODULES = (
    "moonshine_core",            # the names in __all__ below
    "moonshine_core.provider",   # the provider toolkit: coercions, fallback ids, ratings, regenerations, hooks
    "moonshine_core.records",    # the canonical records
    "moonshine_core.sources",    # reading exports: zip, folder, file, streaming JSON
    "moonshine_core.trees",      # tree repair, the active branch, regeneration forks
    "moonshine_core.timeutil",   # timestamps to epoch seconds
    "moonshine_core.errors",     # the exceptions hooks may raise
    "moonshine_core.lane",       # Lane and LaneContext, for plugins that add lanes
    "moonshine_core.testing",    # the contract kit (tests only)
)

from .errors import (  # noqa: E402
    DetectionError,
    MoonshineError,
    NormalizeError,
    ParseError,
    PluginError,
    RecordError,
    RefusedError,
    StoreError,
    TokenizerError,
    WorkspaceError,
)
from .hookspecs import hookimpl  # noqa: E402
from .records import (  # noqa: E402
    Attachment,
    Comparison,
    Conversation,
    Detection,
    Feedback,
    Message,
    RawRecord,
    Score,
    SideRecord,
    ToolCall,
    ToolResult,
)
from .sources import ExportSource  # noqa: E402
from .workspace import Workspace  # noqa: E402

__all__ = [
    "__version__", "PLUGIN_MODULES", "hookimpl",
    "Attachment", "Comparison", "Conversation", "Detection", "Feedback", "Message", "RawRecord",
    "Score", "SideRecord", "ToolCall", "ToolResult", "ExportSource", "Workspace",
    "MoonshineError", "ParseError", "NormalizeError", "RecordError", "PluginError", "StoreError",
    "TokenizerError", "WorkspaceError", "DetectionError", "RefusedError",
]
