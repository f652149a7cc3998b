"""The ``moonshine`` click group, its global options and the context every command receives.

Commands attach themselves to :data:`cli` from their own modules
(:mod:`.commands`, :mod:`.distill_command`); importing :mod:`moonshine_core.cli`
imports them all. Global options come before the command (``moonshine --json
status``). Errors are one line on stderr and a non-zero exit; ``--debug`` adds
the traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import attrs
import click

from .. import __version__
from ..errors import MoonshineError
from ..workspace import Workspace


@attrs.define
class Context:
    """What every command receives: global options and lazily built services."""

    workspace_dir: str | None = None
    as_json: bool = False
    quiet: bool = False
    debug: bool = False
    _pm: Any = None

    @property
    def pm(self):
        """The plugin manager, built on first use and warning once about plugins that failed to load."""
        if self._pm is None:
            # Deferred for startup time: loading plugins (and through the built-ins the lanes) is the
            # slowest import of all, and --help, status or rollback never need it.
            from ..plugins import make_plugin_manager

            self._pm = make_plugin_manager()
            for info in self._pm.load_errors():
                if not self.quiet:
                    click.echo(f"warning: plugin {info.name} skipped: {info.error}", err=True)
        return self._pm

    def workspace(self) -> Workspace:
        """The workspace of ``--workspace`` (else ``$MOONSHINE_WORKSPACE``, else the current directory)."""
        return Workspace.open(self.workspace_dir)

    def emit(self, data: Any, text: str | None = None) -> None:
        """Print ``data`` as JSON with ``--json``, else ``text`` (unless ``--quiet``)."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str))
        elif text is not None and not self.quiet:
            click.echo(text)

    def progress_enabled(self) -> bool:
        """Progress goes to a terminal only, and never with ``--quiet`` or ``--json``."""
        return not self.quiet and not self.as_json and sys.stderr.isatty()


class MoonshineGroup(click.Group):
    """A click group that turns ``MoonshineError`` into one line on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MoonshineError as exc:
            self._fail(ctx, f"error: {exc}", 1)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            self._fail(ctx, "interrupted", 130)
        except Exception as exc:  # anything else is a bug: say so in one line
            self._fail(ctx, f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 3)

    @staticmethod
    def _fail(ctx: click.Context, message: str, code: int) -> None:
        obj = ctx.obj
        if isinstance(obj, Context) and obj.debug:
            traceback.print_exc()
        click.echo(message.splitlines()[0] if message else message, err=True)
        ctx.exit(code)


@click.group(cls=MoonshineGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="moonshine")
@click.option("--workspace", "-w", "workspace_dir", metavar="DIR", envvar="MOONSHINE_WORKSPACE",
              help="Workspace folder (default: $MOONSHINE_WORKSPACE, else the current directory).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no informational output.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, workspace_dir: str | None, as_json: bool, quiet: bool, debug: bool) -> None:
    """Moonshine: chat exports to a provenance-locked corpus and training data.

    \b
    The lifecycle of one provider export:
      moonshine preflight EXPORT        hash it, detect the provider, propose a run id
      moonshine ingest EXPORT           build the provider-run DB, token ledger and manifest
      moonshine archive RUN_ID          copy the run aside and snapshot the mash
      moonshine merge RUN_ID            upsert the run into the mash, under gates
      moonshine distill                 DPO / GRPO / agentic-code / conversational rows
      moonshine docs-sync               refresh the operators' documents
    or all of it at once:  moonshine run EXPORT

    Try it on the bundled synthetic samples:  moonshine demo --workspace /tmp/moonshine-demo
    """
    ctx.obj = Context(workspace_dir=workspace_dir, as_json=as_json, quiet=quiet, debug=debug)
