"""The ``moonshine`` click group, its global options and the context every command receives.

Commands attach themselves to :data:`cli` from their own modules
(:mod:`.commands`, :mod:`.distill_command`); importing :mod:`moonshine_core.cli`
imports them all. Global options work before the command (``moonshine --json
status``) and after it (``moonshine status --json``): :class:`MoonshineGroup`
adds them to every command it registers. Errors are one line on stderr and a
non-zero exit (``--debug`` adds the traceback); under ``--json`` that line is
a JSON object (:func:`error_payload`), still on stderr, so stdout holds only
the command's own JSON (a command such as ``gates`` prints its result, then
fails).

Exit codes: 0 success, 1 an error the user can act on (a ``MoonshineError``),
2 a usage error (unknown option, missing argument), 3 an internal error (a
bug), 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import logging
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


#: Hints for errors whose message alone does not say what to do next, by kind.
_HINTS = {
    "usage": "see --help of the command",
    "internal": "this is a bug in Moonshine or a plugin; run again with --debug and report the traceback",
    "interrupted": "nothing half-written is kept; run the command again",
}


def error_payload(kind: str, message: str) -> dict[str, str | None]:
    """The ``--json`` form of an error: ``{"error": message, "kind": kind, "hint": hint-or-null}``.

    ``kind`` is the exception class for Moonshine's own errors (``StoreError``,
    ``RefusedError``, ...), else ``usage``, ``internal`` or ``interrupted``.
    """
    return {"error": message, "kind": kind, "hint": _HINTS.get(kind)}


def _global_options() -> list[click.Option]:
    """The options every command accepts after its name too (``moonshine status --json``).

    Their destinations are prefixed so they never collide with a command's own parameters; no
    envvar here (the group's ``--workspace`` reads ``$MOONSHINE_WORKSPACE`` once).
    """
    return [
        click.Option(["--workspace", "-w", "_g_workspace_dir"], metavar="DIR",
                     help="Workspace folder (also accepted before the command)."),
        click.Option(["--json", "_g_as_json"], is_flag=True, help="Machine-readable JSON output."),
        click.Option(["--quiet", "-q", "_g_quiet"], is_flag=True, help="No progress and no informational output."),
        click.Option(["--debug", "_g_debug"], is_flag=True, help="Show tracebacks on errors."),
    ]


def _accept_global_options(command: click.Command) -> None:
    """Give ``command`` the global options, applied to the shared :class:`Context` before it runs."""
    taken = {opt for p in command.params for opt in getattr(p, "opts", [])}
    added = [o for o in _global_options() if not taken.intersection(o.opts)]
    if not added or command.callback is None:
        return
    command.params.extend(added)
    callback = command.callback

    @functools.wraps(callback)
    def apply_then_run(*args: Any, **kwargs: Any) -> Any:
        obj = click.get_current_context().find_object(Context)
        workspace_dir = kwargs.pop("_g_workspace_dir", None)
        flags = {name: kwargs.pop(f"_g_{name}", False) for name in ("as_json", "quiet", "debug")}
        if obj is not None:
            if workspace_dir is not None:
                obj.workspace_dir = workspace_dir
            for name, on in flags.items():
                if on:
                    setattr(obj, name, True)
        return callback(*args, **kwargs)

    command.callback = apply_then_run


def _wants_json(ctx: click.Context | None, args: list[str]) -> bool:
    obj = ctx.obj if ctx is not None else None
    if isinstance(obj, Context) and obj.as_json:
        return True
    # A usage error can happen before any option was parsed: look at the words themselves.
    return "--json" in args[: args.index("--") if "--" in args else len(args)]


class MoonshineGroup(click.Group):
    """A click group that turns errors into one line on stderr (or JSON under ``--json``) and
    gives every command the global options."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group):
            _accept_global_options(cmd)
        super().add_command(cmd, name)

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:
        words = list(sys.argv[1:] if args is None else args)
        if "--json" not in words or extra.get("standalone_mode") is False:
            return super().main(words, prog_name, **extra)
        try:
            done = super().main(words, prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            click.echo(json.dumps(error_payload("usage", exc.format_message()), sort_keys=True), err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo(json.dumps(error_payload("interrupted", "aborted"), sort_keys=True), err=True)
            sys.exit(1)
        except click.ClickException as exc:
            click.echo(json.dumps(error_payload("usage", exc.format_message()), sort_keys=True), err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        # Without standalone mode click returns a failed command's exit code instead of exiting.
        sys.exit(done if isinstance(done, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MoonshineError as exc:
            self._fail(ctx, type(exc).__name__, f"error: {exc}", 1)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            self._fail(ctx, "interrupted", "interrupted", 130)
        except Exception as exc:  # anything else is a bug: say so in one line
            self._fail(ctx, "internal", f"internal error: {type(exc).__name__}: {exc} "
                                        "(run with --debug for the traceback)", 3)

    @staticmethod
    def _fail(ctx: click.Context, kind: str, message: str, code: int) -> None:
        obj = ctx.obj
        if isinstance(obj, Context) and obj.debug:
            traceback.print_exc()   # with --debug the traceback holds what SQLite's log would say
        line = message.splitlines()[0] if message else message
        if _wants_json(ctx, sys.argv[1:]):
            text = line.removeprefix("error: ")
            click.echo(json.dumps(error_payload(kind, text), sort_keys=True, ensure_ascii=False), err=True)
        else:
            click.echo(line, err=True)
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
    _quiet_library_logs()


def _quiet_library_logs() -> None:
    """SQLite's own log (forwarded by apsw's best practice) would print a second line beside each
    one-line error; Python's last-resort handler is what prints it, so give the root logger a handler
    (a program that configured logging itself keeps its own). ``--debug`` prints the traceback."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


class CountBar:
    """``done / total`` as a click progress bar on stderr (with an ETA), only on a terminal and never
    with ``--quiet`` or ``--json``. Call it with ``(done, total)``; :meth:`close` when finished."""

    def __init__(self, obj: Context, label: str):
        self.enabled = obj.progress_enabled()
        self.label = label
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True,
                                          show_eta=True)
            self._bar.__enter__()
        self._bar.update(done - self._bar.pos)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

