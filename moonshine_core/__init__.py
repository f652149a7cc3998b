"""Moonshine: AI-assistant chat exports to a provenance-locked SQLite corpus and training data.

The public API for notebooks and plugins. Plugins import from here (and from
the documented submodules ``records``, ``sources``, ``trees``, ``timeutil``,
``errors``, ``testing``) and nothing else of the core.
"""

from __future__ import annotations

__version__ = "0.1.0"
#: Version of the hook API: plugins declare ``moonshine-core>=0.1,<0.2``.
PLUGIN_API = (0, 1)

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
    "__version__", "PLUGIN_API", "hookimpl",
    "Attachment", "Comparison", "Conversation", "Detection", "Feedback", "Message", "RawRecord",
    "Score", "SideRecord", "ToolCall", "ToolResult", "ExportSource", "Workspace",
    "MoonshineError", "ParseError", "NormalizeError", "RecordError", "PluginError", "StoreError",
    "TokenizerError", "WorkspaceError", "DetectionError", "RefusedError",
]
