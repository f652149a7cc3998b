"""``moonshine search``: full-text search over the mash (:mod:`moonshine_core.search`)."""

from __future__ import annotations

import sys

import click

from ..timeutil import epoch_to_iso
from .group import Context, cli


@cli.command("search")
@click.argument("query", required=False)
@click.option("--provider", "-p", help="Only this provider's messages.")
@click.option("--role", type=click.Choice(["user", "assistant", "system", "tool"]), help="Only messages of this role.")
@click.option("--since", metavar="DATE", help="Only messages from DATE on (YYYY-MM-DD or ISO-8601).")
@click.option("--limit", "-n", default=20, show_default=True, help="At most this many results.")
@click.option("--reasoning", is_flag=True, help="Also search reasoning (chain of thought, summaries).")
@click.option("--tools", is_flag=True, help="Also search tool calls and results, hidden plumbing included.")
@click.option("--raw", is_flag=True, help='QUERY is FTS5 syntax: "exact phrase", a OR b, NEAR(a b), pre*.')
@click.option("--build-index", is_flag=True, help="Add the search index to a mash an older version made.")
@click.option("--datasette-metadata", is_flag=True,
              help="Write reports/main/datasette-metadata.json (titles, facets, the search index) and exit.")
@click.pass_obj
def search_command(obj: Context, query: str | None, provider: str | None, role: str | None, since: str | None,
                   limit: int, reasoning: bool, tools: bool, raw: bool, build_index: bool,
                   datasette_metadata: bool) -> None:
    """Search the messages of the mash for QUERY (every word must occur), best match first.

    Searches the text the user saw; --reasoning and --tools widen it. The index is part of the mash:
    every merge and rollback keeps it current.

    \b
    Examples:
      moonshine search "docker compose" --provider claude --since 2025-01-01
      moonshine search 'NEAR(pandas merge)' --raw --json
      moonshine search --datasette-metadata   then: datasette reports/main/moonshine_mash_active.db
                                               -m reports/main/datasette-metadata.json
    """
    from ..errors import MoonshineError
    from ..mergelog import locked, upgrade_mash
    from ..search import search, write_datasette_metadata

    ws = obj.workspace().require_existing()
    if datasette_metadata:
        path = write_datasette_metadata(ws)
        obj.emit({"metadata": str(path)}, f"wrote {path}\n  datasette {ws.mash_path} -m {path}")
        return
    if build_index:
        # What `archive` does before its snapshot: bring the mash to this core's schema and index.
        # A run archived but not merged then needs `archive` again (its snapshot no longer matches).
        with locked(ws):
            added = upgrade_mash(ws)
        note = "mash upgraded: search index added" if added else "the mash already has its index"
        if not query:
            obj.emit({"index_added": added}, note)
            return
        if not obj.quiet and not obj.as_json:   # stdout stays the search's own output
            click.echo(note, err=True)
    if not query:
        raise MoonshineError("give a QUERY to search for (see moonshine search --help)")
    hits = search(ws, query, provider=provider, role=role, since=since, limit=limit, reasoning=reasoning,
                  tools=tools, raw=raw)
    if obj.as_json:
        obj.emit([h.to_dict() for h in hits])
        return
    color = sys.stdout.isatty()
    on, off = ("\x1b[1;33m", "\x1b[0m") if color else ("[", "]")
    lines = []
    for hit in hits:
        when = (epoch_to_iso(hit.created_at) or "----------")[:10]
        head = f"{when}  {hit.provider:<9} {hit.conversation_id}  {hit.role}"
        lines.append(click.style(head, dim=True) if color else head)
        lines.append(f"  {hit.title or '(untitled)'}: {hit.snippet((on, off))}")
    lines.append(f"{len(hits)} result{'s' if len(hits) != 1 else ''}" + (f" (the first {limit}; --limit for more)"
                                                                        if len(hits) == limit else ""))
    obj.emit(None, "\n".join(lines))
