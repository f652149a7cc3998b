"""Logged code runs for the GRPO lane: the run a turn ends on, the cells before it, and whether it
can be reproduced.

ChatGPT's python tool is a stateful Jupyter kernel: a cell often uses names an
earlier cell defined. The reference program of a run is therefore the chain of
Python cells on the conversation's path down to it, starting after the last
kernel reset ("Code execution state reset."). Whether that program can be run
again, here, is decided first without running anything (:func:`static_problem`):
a run that read the user's uploads, used the network, showed a plot, printed
only warnings, or imported a module the sandbox lacks cannot be reproduced, and
says why. Re-running it (:func:`reproduces`) is a separate, opt-in step.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

import attrs

from ..answers import IMAGE_MARKER, has_warnings, is_empty_output, outputs_match
from ..records import Message, ToolCall, ToolResult
from ..sandbox import Limits, importable, run_cells
from ..trees import ConversationTree
from .agentic import tool_call_kind

#: Tool kinds whose result is a program's output (file edits and documents are not runs).
EXECUTION_KINDS = frozenset({"code", "shell"})
#: Why a logged run cannot be reproduced, in the order the checks run.
STATIC_PROBLEMS = ("language_not_run", "not_plain_python", "needs_user_files", "needs_network", "image_output",
                   "empty_output", "warning_only_output", "module_unavailable")
_PYTHON_TOOLS = frozenset({"python", "python_user_visible", "jupyter", "ipython", "code_interpreter"})
_JS_TOOLS = frozenset({"repl", "node", "javascript"})
_UNKNOWN = frozenset({"", "unknown", "none", "null", "text", "plaintext"})
_RESET = re.compile(r"^\s*code execution state reset", re.IGNORECASE)
_UPLOAD_PATH = re.compile(r"/mnt/data|/mnt/user-data|\bsandbox:/")
_FOREIGN_PREFIXES = ("/home/", "/Users/", "/mnt/", "/tmp/", "/root/", "/data/", "/content/", "/kaggle/", "~/",
                     "/var/", "/etc/", "/opt/", "/srv/")
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")
_FILE_NAME = re.compile(r"^[^\n\0]{1,200}\.[A-Za-z0-9]{1,6}$")
_URL = re.compile(r"^(?:https?|ftp|wss?)://", re.IGNORECASE)
#: Modules whose only use is the network (``urllib.parse`` is not; ``urllib.request`` is).
_NETWORK_MODULES = frozenset({"requests", "httpx", "aiohttp", "urllib3", "socket", "ftplib", "smtplib", "poplib",
                              "imaplib", "telnetlib", "websocket", "websockets", "yfinance", "pandas_datareader",
                              "openai", "anthropic", "selenium", "tweepy", "wikipedia", "pytube", "boto3",
                              "paramiko", "urllib.request", "http.client", "googlesearch", "praw"})
_READ_CALLS = frozenset({"read_csv", "read_excel", "read_json", "read_parquet", "read_table", "read_pickle",
                         "read_feather", "read_fwf", "read_sas", "read_stata", "read_spss", "read_xml", "read_orc",
                         "read_hdf", "loadtxt", "genfromtxt", "load", "imread", "Document", "PdfReader",
                         "PdfFileReader", "load_workbook", "convert_from_path", "ZipFile", "VideoFileClip",
                         "AudioFileClip", "from_file", "read_file", "Presentation", "open"})
_WRITE_CALLS = frozenset({"to_csv", "to_excel", "to_json", "to_parquet", "to_pickle", "to_feather", "savefig",
                          "save", "savetxt", "imwrite", "write", "output", "dump", "to_file", "write_text",
                          "write_bytes"})


@attrs.frozen
class Run:
    """A tool call, the message that made it, and the result paired with it (``None``: none came)."""

    message: Message
    call: ToolCall
    result: ToolResult | None


def call_code(arguments: Any) -> str | None:
    """The code (or command) a tool call ran: its text, or the first code-like field of its arguments."""
    if isinstance(arguments, str):
        return arguments
    if isinstance(arguments, dict):
        for key in ("code", "command", "cmd", "input", "script", "content"):
            if isinstance(arguments.get(key), str):
                return arguments[key]
    return None


def pair_runs(records: Sequence[Message]) -> list[Run]:
    """Every tool call of ``records`` in order, with its result: the one its ``call_id`` names,
    else the oldest call still waiting."""
    runs: list[Run] = []
    pending: list[tuple[Message, ToolCall]] = []
    for m in records:
        pending.extend((m, call) for call in m.tool_calls)
        for result in m.tool_results:
            match = next((p for p in pending if result.call_id and p[1].call_id == result.call_id), None)
            match = match or (pending[0] if pending else None)
            if match is None:
                continue
            pending.remove(match)
            runs.append(Run(match[0], match[1], result))
    runs.extend(Run(m, call, None) for m, call in pending)
    order = {id(call): i for i, call in enumerate(c for m in records for c in m.tool_calls)}
    return sorted(runs, key=lambda r: order.get(id(r.call), 0))


def is_execution(call: ToolCall) -> bool:
    """True for a call that runs code or a command (not a file edit, a search or a plugin)."""
    return tool_call_kind(call.name, call.arguments) in EXECUTION_KINDS


def language_of(call: ToolCall, message: Message, code: str) -> str:
    """The language a run's code is in: ``python`` for the Python tools whatever the metadata says,
    else a declared language (a ``language`` of ``unknown`` declares nothing), else by the tool's
    kind (shell: ``bash``), else ``python`` when the code reads like it, else ``unknown``."""
    name = (call.name or "").strip().lower().removeprefix("functions.")
    if name in _PYTHON_TOOLS:
        return "python"
    args = call.arguments if isinstance(call.arguments, dict) else {}
    for declared in (args.get("language"), message.metadata.get("language")):
        if isinstance(declared, str) and declared.strip().lower() not in _UNKNOWN:
            return declared.strip().lower()
    if name in _JS_TOOLS:
        return "javascript"
    if tool_call_kind(call.name, call.arguments) == "shell":
        return "bash"
    return "python" if re.search(r"^\s*(?:import \w|from \w+ import|def \w+\(|print\()", code, re.MULTILINE) \
        else "unknown"


def is_reset(result: ToolResult | None) -> bool:
    """True when a tool result says the kernel lost its state."""
    return result is not None and bool(_RESET.match(result.content or ""))


def setup_cells(tree: ConversationTree, last: Run) -> list[str]:
    """The Python cells run on the path down to ``last`` (not included), after the last reset."""
    path = tree.messages(tree.path(last.message.message_id))
    cells: list[str] = []
    for run in pair_runs(path):
        if run.call is last.call:
            break
        if is_reset(run.result):
            cells = []
            continue
        code = call_code(run.call.arguments)
        if code and is_execution(run.call) and language_of(run.call, run.message, code) == "python":
            cells.append(code)
    return cells


def _trees(cells: Sequence[str]) -> list[ast.Module] | None:
    try:
        return [ast.parse(cell) for cell in cells]
    except (SyntaxError, ValueError):
        return None


def imported_modules(trees: Sequence[ast.Module]) -> set[str]:
    """Dotted names of every absolute import in ``trees`` (``import a.b`` gives ``a.b``)."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _first_string(node: ast.Call) -> str | None:
    first = node.args[0] if node.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def _opens_for_writing(node: ast.Call) -> bool:
    mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and any(c in mode.value for c in "wax+")


def _strings(trees: Sequence[ast.Module]) -> list[str]:
    return [n.value for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def needs_user_files(cells: Sequence[str], trees: Sequence[ast.Module]) -> bool:
    """True when the code reads files Moonshine does not have: the user's uploads (``/mnt/data``), an
    absolute path of the machine it ran on, or a file name handed to a reading call (``read_csv``,
    ``open``, ``Document``, ...) that no cell writes first."""
    if any(_UPLOAD_PATH.search(cell) for cell in cells):
        return True
    if any(s.startswith(_FOREIGN_PREFIXES) or _WINDOWS_PATH.match(s) for s in _strings(trees)):
        return True
    written: set[str] = set()
    for tree in trees:
        calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)),
                       key=lambda n: (n.lineno, n.col_offset))
        for node in calls:
            name, target = _call_name(node), _first_string(node)
            if target is None or not _FILE_NAME.match(target):
                continue
            if name in _WRITE_CALLS or (name == "open" and _opens_for_writing(node)):
                written.add(target)
            elif name in _READ_CALLS and target not in written:
                return True
    return False


def needs_network(trees: Sequence[ast.Module]) -> bool:
    """True when the code imports a network-only module or hands a URL to a call."""
    for name in imported_modules(trees):
        if name in _NETWORK_MODULES or name.split(".")[0] in _NETWORK_MODULES:
            return True
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                values = [a.value for a in [*node.args, *(k.value for k in node.keywords)]
                          if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                if any(_URL.match(v) for v in values):
                    return True
    return False


def output_problem(expected: str) -> str | None:
    """Why a logged output cannot be compared: a plot or image, nothing, or only warnings."""
    if IMAGE_MARKER in (expected or ""):
        return "image_output"
    if is_empty_output(expected):
        return "warning_only_output" if has_warnings(expected) else "empty_output"
    return None


def static_problem(language: str, cells: Sequence[str], expected: str) -> str | None:
    """The first of :data:`STATIC_PROBLEMS` that holds for a run (``cells``: setup, then the run),
    or ``None`` when it could be re-run and compared. Nothing is executed: module availability is
    asked of the sandbox's interpreter with ``find_spec``."""
    if language != "python":
        return "language_not_run"
    trees = _trees(cells)
    if trees is None:
        return "not_plain_python"
    if needs_user_files(cells, trees):
        return "needs_user_files"
    if needs_network(trees):
        return "needs_network"
    problem = output_problem(expected)
    if problem:
        return problem
    tops = sorted({name.split(".")[0] for name in imported_modules(trees)})
    if tops and not all(importable(tops).values()):
        return "module_unavailable"
    return None


def reproduces(cells: Sequence[str], expected: str, limits: Limits) -> bool:
    """Re-run ``cells`` in the sandbox: True when the run succeeds and its last cell's output is the
    logged one (through :func:`moonshine_core.answers.comparable_output`)."""
    result = run_cells(list(cells), limits)
    return result.ok and outputs_match(result.stdout, expected)


__all__ = ["EXECUTION_KINDS", "STATIC_PROBLEMS", "Run", "call_code", "pair_runs", "is_execution", "language_of",
           "is_reset", "setup_cells", "imported_modules", "needs_user_files", "needs_network", "output_problem",
           "static_problem", "reproduces"]
