"""Looking at one conversation of the mash (``moonshine show``): find it, then draw it as text.

:func:`find_conversation` resolves what a person types: a whole conversation
id, a unique prefix of one (``--provider`` narrows it), or the most recently
updated conversation. :func:`load_conversation` reads it back as the canonical
:class:`~moonshine_core.records.Conversation`, and :func:`render` draws it as
lines for a terminal: the header (title, provider, run, times in ISO-8601
UTC), then the active branch, or with ``all_branches`` the whole tree with each
branch point drawn. Tool calls carry a label (``[1]``) that their results
repeat, so a result is seen next to the call it answers; reasoning is folded
to one line unless asked for; attachments are named. :func:`conversation_record`
is the record as plain data (``moonshine show --json``)::

    from moonshine_core.show import find_conversation, load_conversation, render
    found = load_conversation(ws, find_conversation(ws, "6650f3"))
    print("\\n".join(render(found, all_branches=True)))

The mash is only read. Text from an export is printed with its control
characters made visible, so an export cannot send escape sequences to the
terminal.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable
from typing import Any

import attrs

from .convert import record_to_dict
from .errors import MoonshineError, StoreError
from .records import Attachment, Conversation, Message, ToolCall, ToolResult
from .store.db import connect
from .store.rows import conversation_from_rows
from .trees import ConversationTree
from .workspace import Workspace

#: Tool arguments and results longer than this are cut in :func:`render` (``None``: never).
DEFAULT_TOOL_CHARS = 2000
#: How many candidates an ambiguous prefix lists.
MAX_CANDIDATES = 10

#: ``style(text, kind)`` returns ``text`` decorated for its kind: ``title``, ``meta``, a role
#: (``user``, ``assistant``, ``system``, ``tool``, or ``role`` for any other), ``call``,
#: ``result``, ``error``, ``branch`` or ``note``. The default leaves text as it is.
Style = Callable[[str, str], str]

_KNOWN_ROLES = ("user", "assistant", "system", "tool")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class ConversationNotFound(MoonshineError):
    """No conversation of the mash has the id (or a prefix of it) asked for."""


class AmbiguousConversation(MoonshineError):
    """A prefix names more than one conversation; ``candidates`` lists them."""

    def __init__(self, message: str, candidates: list["ConversationRef"]):
        super().__init__(message)
        self.candidates = candidates


@attrs.frozen
class ConversationRef:
    """Which conversation of the mash: its provider and id, with what a list of candidates shows."""

    provider: str
    conversation_id: str
    title: str | None = None
    record_uid: str | None = None
    provider_run_id: str | None = None
    created_at: float | None = None
    updated_at: float | None = None

    def describe(self) -> str:
        """``id (provider, "title")``, as an ambiguity error lists it."""
        return f"{self.conversation_id} ({self.provider}, {json.dumps(self.title or '(untitled)', ensure_ascii=False)})"


@attrs.frozen
class StoredConversation:
    """A conversation read back from the mash, with where it lives there."""

    ref: ConversationRef
    conversation: Conversation


_REF_COLUMNS = "provider, conversation_id, title, record_uid, provider_run_id, created_at, updated_at"


def _ref(row: tuple) -> ConversationRef:
    return ConversationRef(*row)


def _open_mash(ws: Workspace):
    ws.require_existing()
    if not ws.mash_path.exists():
        raise StoreError(f"workspace {ws.root} has no mash yet ({ws.mash_path.relative_to(ws.root)}); "
                         "merge a run first")
    return connect(ws.mash_path, readonly=True)


def find_conversation(ws: Workspace, conversation_id: str | None = None, *, provider: str | None = None,
                      latest: bool = False) -> ConversationRef:
    """The conversation ``conversation_id`` names: the whole id, else a unique prefix of one.

    An id that exists exactly wins over longer ids it is a prefix of. ``provider``
    narrows the search to one provider; ``latest`` (instead of an id) takes the
    conversation updated (else created) last. Raises :class:`ConversationNotFound`
    for an id nothing matches and :class:`AmbiguousConversation`, listing the
    candidates (id, provider, title), when several match.
    """
    if latest == (conversation_id is not None):
        raise MoonshineError("name a conversation id (or a prefix of one) or ask for the latest, not both"
                             if latest else "name a conversation id (or a prefix of one), or ask for the latest")
    where, params = ("provider = ? AND ", (provider,)) if provider else ("", ())
    conn = _open_mash(ws)
    try:
        if latest:
            when = "coalesce(updated_at, created_at)"
            rows = list(conn.execute(
                f"SELECT {_REF_COLUMNS} FROM conversations WHERE {where}1 "
                f"ORDER BY {when} IS NULL, {when} DESC, provider, conversation_id LIMIT 1", params))
            if not rows:
                raise ConversationNotFound(f"the mash holds no conversation{f' of {provider}' if provider else ''}")
            return _ref(rows[0])
        wanted = conversation_id.strip()
        if not wanted:
            raise ConversationNotFound("an empty conversation id names nothing")
        rows = list(conn.execute(f"SELECT {_REF_COLUMNS} FROM conversations WHERE {where}conversation_id = ? "
                                 "ORDER BY provider", (*params, wanted)))
        if not rows:
            rows = list(conn.execute(
                f"SELECT {_REF_COLUMNS} FROM conversations WHERE {where}substr(conversation_id, 1, ?) = ? "
                "ORDER BY conversation_id, provider", (*params, len(wanted), wanted)))
    finally:
        conn.close()
    scope = f" of {provider}" if provider else ""
    if not rows:
        raise ConversationNotFound(f"no conversation{scope} in the mash has the id {wanted!r} or starts with it")
    if len(rows) > 1:
        candidates = [_ref(r) for r in rows]
        listed = "; ".join(c.describe() for c in candidates[:MAX_CANDIDATES])
        more = f"; and {len(candidates) - MAX_CANDIDATES} more" if len(candidates) > MAX_CANDIDATES else ""
        hint = "give more of the id" + ("" if provider else " or --provider")
        raise AmbiguousConversation(f"{wanted!r} matches {len(candidates)} conversations{scope}: {listed}{more}; "
                                    f"{hint}", candidates)
    return _ref(rows[0])


def load_conversation(ws: Workspace, ref: ConversationRef) -> StoredConversation:
    """The conversation ``ref`` names, read from the mash as the canonical record."""
    conn = _open_mash(ws)
    try:
        cursor = conn.execute("SELECT * FROM conversations WHERE provider = ? AND conversation_id = ?",
                              (ref.provider, ref.conversation_id))
        rows = _dicts(cursor)
        if not rows:
            raise ConversationNotFound(f"conversation {ref.conversation_id} of {ref.provider} is not in the mash")
        row = rows[0]
        messages = _dicts(conn.execute("SELECT * FROM messages WHERE conversation_uid = ? ORDER BY position",
                                       (row["record_uid"],)))
    finally:
        conn.close()
    full = ConversationRef(row["provider"], row["conversation_id"], row["title"], row["record_uid"],
                           row["provider_run_id"], row["created_at"], row["updated_at"])
    return StoredConversation(ref=full, conversation=conversation_from_rows(row, messages))


def _dicts(cursor) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: list[str] | None = None
    for row in cursor:
        # The description is there only while the statement runs.
        names = names or [d[0] for d in cursor.get_description()]
        out.append(dict(zip(names, row)))
    return out


def conversation_record(found: StoredConversation) -> dict[str, Any]:
    """The conversation as plain data: the canonical record (:func:`~moonshine_core.convert.record_to_dict`,
    which :func:`~moonshine_core.convert.record_from_dict` turns back into the same
    :class:`Conversation`), plus the mash's ``provider``, ``provider_run_id`` and ``record_uid``."""
    data = record_to_dict(found.conversation)
    data.update(provider=found.ref.provider, provider_run_id=found.ref.provider_run_id,
                record_uid=found.ref.record_uid)
    return data


# -- pairing ---------------------------------------------------------------------------------------
#: A tool call or result inside a conversation: ``(message id, index in its message's list)``.
EventKey = tuple[str, int]


def pair_tool_results(tree: ConversationTree) -> dict[EventKey, EventKey]:
    """Which call each tool result answers: result key → call key.

    Looked for on the result's own path from the root (a call on another branch
    never answers it): a result with a ``call_id`` answers the latest call with
    that id; one without answers the oldest call of its turn still waiting (a
    user message that carries no result starts a new turn). Results nothing
    answers to are left out.
    """
    pairs: dict[EventKey, EventKey] = {}
    roots = tree.children.get(None, [])
    stack: list[tuple[str, _PathCalls]] = [(r, _PathCalls()) for r in reversed(roots)]
    seen: set[str] = set()
    while stack:
        mid, calls = stack.pop()
        if mid in seen:
            continue
        seen.add(mid)
        calls.visit(tree.by_id[mid], pairs)
        kids = tree.children.get(mid, [])
        # Each branch gets its own copy of what is waiting; a chain shares (and updates) one.
        stack.extend((k, calls if len(kids) == 1 else calls.copy()) for k in reversed(kids))
    return pairs


@attrs.define
class _PathCalls:
    waiting: list[EventKey] = attrs.field(factory=list)
    by_id: dict[str, EventKey] = attrs.field(factory=dict)

    def copy(self) -> "_PathCalls":
        return _PathCalls(list(self.waiting), dict(self.by_id))

    def visit(self, m: Message, pairs: dict[EventKey, EventKey]) -> None:
        if m.role == "user" and not m.tool_results:
            self.waiting.clear()
        for seq, call in enumerate(m.tool_calls):
            key = (m.message_id, seq)
            self.waiting.append(key)
            if call.call_id:
                self.by_id[call.call_id] = key
        for seq, result in enumerate(m.tool_results):
            if result.call_id is not None:
                call = self.by_id.get(result.call_id)
            else:
                call = self.waiting[0] if self.waiting else None
            if call is None:
                continue
            pairs[(m.message_id, seq)] = call
            if call in self.waiting:
                self.waiting.remove(call)


# -- rendering -------------------------------------------------------------------------------------
def iso_utc(epoch: float | None) -> str | None:
    """``2024-05-01T10:00:00Z`` for UTC epoch seconds (``None`` stays ``None``)."""
    if epoch is None:
        return None
    try:
        stamp = _dt.datetime.fromtimestamp(epoch, tz=_dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(epoch)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def visible(text: str) -> str:
    """``text`` with control characters (but newline and tab) shown as ``\\xNN``, so it cannot drive a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _plain(text: str, kind: str) -> str:
    return text


def render(found: StoredConversation, *, all_branches: bool = False, reasoning: bool = False,
           tool_chars: int | None = DEFAULT_TOOL_CHARS, style: Style | None = None,
           ascii_only: bool = False) -> list[str]:
    """The conversation as lines of text (no trailing newlines).

    A header (title, id, provider and run, created/updated in ISO-8601 UTC, model,
    message and branch counts), then the messages of the active branch, each as
    ``#N role · model · time`` (``N`` its position in the conversation) and its
    content below: reasoning folded to ``[reasoning: N chars]`` unless
    ``reasoning``; text; tool calls as ``→ call [k] name`` with their arguments and
    results as ``← result [k] name`` (the same ``k``: the call it answers);
    attachments by name. A branch point on the way says how many branches it has.
    With ``all_branches`` every message is drawn, in a tree: each branch point
    lists its branches (``├─ branch 1/2 (active)``), each branch indented below
    it. Tool arguments and results are cut at ``tool_chars`` characters (``None``:
    in full). ``style`` decorates each piece (see :data:`Style`); ``ascii_only``
    draws with ASCII instead of box-drawing characters and arrows.
    """
    return _Renderer(found, reasoning=reasoning, tool_chars=tool_chars, style=style or _plain,
                     ascii_only=ascii_only).lines(all_branches)


_GLYPHS = {"call": "→", "result": "←", "fork": "⑂", "tee": "├─ ", "last": "└─ ", "pipe": "│  ", "dot": "·"}
_ASCII = {"call": "->", "result": "<-", "fork": "*", "tee": "|- ", "last": "`- ", "pipe": "|  ", "dot": "-"}


class _Renderer:
    def __init__(self, found: StoredConversation, *, reasoning: bool, tool_chars: int | None, style: Style,
                 ascii_only: bool):
        self.found = found
        self.conv = found.conversation
        self.tree = ConversationTree(self.conv)
        self.position = {m.message_id: n for n, m in enumerate(self.conv.messages, start=1)}
        self.reasoning, self.tool_chars, self.style = reasoning, tool_chars, style
        self.g = _ASCII if ascii_only else _GLYPHS
        self.pairs = pair_tool_results(self.tree)
        self.labels: dict[EventKey, int] = {}
        self.answered: set[EventKey] = set()

    # -- the whole drawing --------------------------------------------------------------------
    def lines(self, all_branches: bool) -> list[str]:
        order = self._tree_order() if all_branches else self._active_branch()
        shown = set(order)
        self.answered = {call for result, call in self.pairs.items() if result[0] in shown}
        out = self._header(len(order) if not all_branches else None)
        out.append("")
        if all_branches:
            out += self._draw_tree()
        else:
            out += self._draw_branch(order)
        return out

    def _header(self, branch_length: int | None) -> list[str]:
        c, ref, s = self.conv, self.found.ref, self.style
        forks = sum(1 for parent, kids in self.tree.children.items() if len(kids) > 1)
        counts = f"{len(c.messages)} stored"
        if branch_length is not None:
            counts += f" {self.g['dot']} {branch_length} on the {'active' if self.tree.active_path else 'shown'} branch"
        counts += f" {self.g['dot']} {forks} branch point{'s' if forks != 1 else ''}"
        run = f" {self.g['dot']} run {ref.provider_run_id}" if ref.provider_run_id else ""
        variant = f" {self.g['dot']} {c.format_variant}" if c.format_variant else ""
        rows = [("id", c.conversation_id), ("provider", f"{ref.provider}{run}{variant}"),
                ("created", iso_utc(c.created_at)), ("updated", iso_utc(c.updated_at)),
                ("model", c.model), ("messages", counts)]
        out = [s(visible(c.title) if c.title else "(untitled)", "title")]
        out += [s(f"  {name:<9} {visible(str(value))}", "meta") for name, value in rows if value is not None]
        if not self.tree.active_path and c.messages:
            out.append(s("  no active branch recorded: at each branch point the newest branch is shown", "note"))
        elif c.active_branch_inferred:
            out.append(s("  the active branch is inferred (the export does not mark it)", "note"))
        return out

    def _active_branch(self) -> list[str]:
        if self.tree.active_path:
            return list(self.tree.active_path)
        # No recorded leaf: follow the newest child at each fork, as a reader of the export would.
        path: list[str] = []
        kids = self.tree.children.get(None, [])
        while kids:
            node = self.tree.follow(kids)
            if node in path:
                break
            path.append(node)
            kids = self.tree.children.get(node, [])
        return path

    def _draw_branch(self, order: list[str]) -> list[str]:
        out: list[str] = []
        on_path = set(order)
        roots = self.tree.children.get(None, [])
        if len(roots) > 1:
            out.append(self.style(f"{self.g['fork']} {len(roots)} roots; this branch starts at root "
                                  f"{roots.index(order[0]) + 1}", "branch"))
        for mid in order:
            out += self._message(mid, "")
            kids = self.tree.children.get(mid, [])
            if len(kids) > 1:
                which = next((n for n, k in enumerate(kids, start=1) if k in on_path), None)
                where = f"; this is branch {which}" if which else ""
                out.append(self.style(f"{self.g['fork']} {len(kids)} branches after #{self.position[mid]}{where}",
                                      "branch"))
        return out

    def _tree_order(self) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()
        stack = list(reversed(self.tree.children.get(None, [])))
        while stack:
            mid = stack.pop()
            if mid in seen:
                continue
            seen.add(mid)
            order.append(mid)
            stack.extend(reversed(self.tree.children.get(mid, [])))
        return order

    def _draw_tree(self) -> list[str]:
        """Each chain at one indentation; at a branch point every branch gets a heading and is drawn
        one step further in (an explicit stack: the depth of nested forks is the export's)."""
        out: list[str] = []
        seen: set[str] = set()
        # Items: ("node", id, prefix) or ("branch", heading, prefix-for-heading).
        stack: list[tuple[str, str, str]] = []

        def push_fork(parent: str | None, kids: list[str], prefix: str) -> None:
            what = "roots" if parent is None else f"branches after #{self.position[parent]}"
            out.append(prefix + self.style(f"{self.g['fork']} {len(kids)} {what}", "branch"))
            items = []
            for n, kid in enumerate(kids, start=1):
                last = n == len(kids)
                active = " (active)" if kid in self.tree.active else ""
                items.append(("branch", f"{self.g['last' if last else 'tee']}branch {n}/{len(kids)}{active}", prefix))
                items.append(("node", kid, prefix + ("   " if last else self.g["pipe"])))
            stack.extend(reversed(items))

        roots = self.tree.children.get(None, [])
        if len(roots) > 1:
            push_fork(None, roots, "")
        else:
            stack.extend(("node", r, "") for r in roots)
        while stack:
            kind, value, prefix = stack.pop()
            if kind == "branch":
                out.append(prefix + self.style(value, "branch"))
                continue
            if value in seen:
                continue
            seen.add(value)
            out += self._message(value, prefix)
            kids = self.tree.children.get(value, [])
            if len(kids) == 1:
                stack.append(("node", kids[0], prefix))
            elif kids:
                push_fork(value, kids, prefix)
        return out

    # -- one message ----------------------------------------------------------------------------
    def _message(self, mid: str, prefix: str) -> list[str]:
        m, s, dot = self.tree.by_id[mid], self.style, self.g["dot"]
        head = [f"#{self.position[mid]} {visible(m.role)}"]
        if m.author_name and m.author_name != m.role:
            head.append(visible(m.author_name))
        if m.model:
            head.append(visible(m.model))
        when = iso_utc(m.created_at)
        if when:
            head.append(when)
        if m.hidden:
            head.append(f"hidden ({visible(m.hidden_reason)})" if m.hidden_reason else "hidden")
        role_kind = m.role if m.role in _KNOWN_ROLES else "role"
        body: list[str] = []
        if m.reasoning:
            kind = f", {m.reasoning_kind}" if m.reasoning_kind else ""
            if self.reasoning:
                body.append(s(f"reasoning ({len(m.reasoning)} chars{kind}):", "note"))
                body += ["  " + line for line in visible(m.reasoning).splitlines()]
            else:
                body.append(s(f"[reasoning: {len(m.reasoning)} chars]", "note"))
        text = [visible(line) for line in m.text.splitlines()] if m.text.strip() else []
        if not m.tool_results:
            body += text
        body += [line for seq, call in enumerate(m.tool_calls) for line in self._call(mid, seq, call)]
        body += [line for seq, result in enumerate(m.tool_results) for line in self._result(mid, seq, result)]
        if m.tool_results:
            body += text
        body += [self._attachment(a) for a in m.attachments]
        if not body:
            body.append(s("(empty)", "note"))
        out = [prefix + s(f" {dot} ".join(head), role_kind)]
        return out + [prefix + "   " + line if line else prefix.rstrip() for line in body]

    def _label(self, key: EventKey) -> int:
        return self.labels.setdefault(key, len(self.labels) + 1)

    def _call(self, mid: str, seq: int, call: ToolCall) -> list[str]:
        key = (mid, seq)
        parts = [f"{self.g['call']} call [{self._label(key)}] {visible(call.name)}"]
        if call.call_id:
            parts.append(f"({visible(call.call_id)})")
        if key not in self.answered:
            parts.append(f"{self.g['dot']} no result")
        return [self.style(" ".join(parts), "call")] + self._payload(_argument_text(call.arguments))

    def _result(self, mid: str, seq: int, result: ToolResult) -> list[str]:
        call = self.pairs.get((mid, seq))
        label = f"[{self._label(call)}]" if call is not None else "(no matching call)"
        name = result.name or (self._call_name(call) if call is not None else None)
        parts = [f"{self.g['result']} result {label}"]
        if name:
            parts.append(visible(name))
        if result.call_id:
            parts.append(f"({visible(result.call_id)})")
        flags = [f for f in ("error" if result.is_error else "ok" if result.is_error is False else None,
                             visible(result.status) if result.status else None) if f]
        head = " ".join(parts) + "".join(f" {self.g['dot']} {f}" for f in flags)
        content = result.content
        if not content and result.structured is not None:
            content = json.dumps(result.structured, indent=2, ensure_ascii=False, default=str)
        return [self.style(head, "error" if result.is_error else "result")] + self._payload(content)

    def _call_name(self, key: EventKey) -> str | None:
        message = self.tree.by_id.get(key[0])
        return message.tool_calls[key[1]].name if message is not None else None

    def _payload(self, text: str | None) -> list[str]:
        if not text:
            return []
        cut = ""
        if self.tool_chars is not None and len(text) > self.tool_chars:
            cut = f"… ({len(text) - self.tool_chars} more chars)"
            text = text[: self.tool_chars]
        lines = ["  " + visible(line) for line in text.splitlines()]
        if cut:
            lines.append("  " + self.style(cut, "note"))
        return lines

    def _attachment(self, a: Attachment) -> str:
        facts = [visible(a.kind)] + [visible(v) for v in (a.mime_type,) if v]
        if a.size_bytes is not None:
            facts.append(human_size(a.size_bytes))
        if a.extracted_text:
            facts.append(f"extracted text {len(a.extracted_text)} chars")
        name = visible(a.name or a.pointer or "(unnamed)")
        return self.style(f"attachment: {name} ({', '.join(facts)})", "note")


def _argument_text(arguments: Any) -> str | None:
    if arguments is None:
        return None
    if isinstance(arguments, str):
        return arguments
    line = json.dumps(arguments, ensure_ascii=False, default=str)
    # Small arguments read best on one line; big ones (a file to write) indented.
    return line if len(line) <= 100 else json.dumps(arguments, indent=2, ensure_ascii=False, default=str)


def human_size(n: int) -> str:
    """``n`` bytes for a person: ``512 bytes``, ``12.3 KB``, ``4.0 MB`` (units of 1024)."""
    if n < 1024:
        return f"{n} bytes"
    size = n / 1024
    for unit in ("KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
