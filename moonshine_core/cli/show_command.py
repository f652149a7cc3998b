"""``moonshine show``: one conversation of the mash in the terminal (:mod:`moonshine_core.show`).

The command imports :mod:`moonshine_core.show` when it runs, like every command (see
:mod:`.commands`): ``moonshine --help`` loads no DB code.
"""

from __future__ import annotations

import os
import sys

import click

from .group import Context, cli

#: click.style arguments per piece of the drawing (see moonshine_core.show.Style).
_STYLES = {
    "title": {"bold": True}, "meta": {"dim": True}, "note": {"dim": True},
    "user": {"fg": "green", "bold": True}, "assistant": {"fg": "cyan", "bold": True},
    "system": {"fg": "magenta", "bold": True}, "tool": {"fg": "yellow", "bold": True}, "role": {"bold": True},
    "call": {"fg": "yellow"}, "result": {"fg": "yellow"}, "error": {"fg": "red"},
    "branch": {"fg": "blue", "bold": True},
}


def _colour(text: str, kind: str) -> str:
    return click.style(text, **_STYLES.get(kind, {}))


def _wants_colour() -> bool:
    # click.echo strips styles on a pipe already; NO_COLOR (no-color.org) turns them off on a terminal too.
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _can_draw_boxes() -> bool:
    try:
        "├─│→←⑂·…".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


@cli.command("show")
@click.argument("conversation_id", required=False)
@click.option("--latest", is_flag=True, help="The conversation updated last (instead of an id).")
@click.option("--provider", "-p", help="Only this provider's conversations (narrows an ambiguous prefix).")
@click.option("--all-branches", is_flag=True, help="Draw the whole tree, every branch point and branch.")
@click.option("--reasoning", is_flag=True, help="Show reasoning in full (default: one line with its length).")
@click.option("--full", is_flag=True, help="Tool arguments and results in full (default: long ones are cut).")
@click.pass_obj
def show_command(obj: Context, conversation_id: str | None, latest: bool, provider: str | None,
                 all_branches: bool, reasoning: bool, full: bool) -> None:
    """Print one conversation of the mash: CONVERSATION_ID, or a unique prefix of it, or --latest.

    Shows the title, provider, run and times (ISO-8601, UTC), then the active branch: each message
    with its role, tool calls labelled [1], [2] ... and each result with the label of the call it
    answers, reasoning folded, attachments named. An ambiguous prefix is an error that lists the
    candidates; --provider narrows it. --json prints the canonical record instead.

    \b
    Examples:
      moonshine show 6650f3
      moonshine show --latest --provider claude --all-branches
      moonshine show 6650f3 --json > conversation.json
    """
    from ..show import DEFAULT_TOOL_CHARS, conversation_record, find_conversation, load_conversation, render

    if latest and conversation_id:
        raise click.UsageError("give a CONVERSATION_ID or --latest, not both")
    if not latest and not conversation_id:
        raise click.UsageError("give a CONVERSATION_ID (or a prefix of one), or --latest")
    ws = obj.workspace()
    found = load_conversation(ws, find_conversation(ws, conversation_id, provider=provider, latest=latest))
    if obj.as_json:
        obj.emit(conversation_record(found))
        return
    lines = render(found, all_branches=all_branches, reasoning=reasoning,
                   tool_chars=None if full else DEFAULT_TOOL_CHARS,
                   style=_colour if _wants_colour() else None, ascii_only=not _can_draw_boxes())
    obj.emit(None, "\n".join(lines))
