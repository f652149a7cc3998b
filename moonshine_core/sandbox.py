"""Running Python found in an export (or written by a model) without letting it touch anything.

:func:`run_cells` runs a list of code cells, in order and in one namespace,
the way ChatGPT's code interpreter (a Jupyter kernel) ran them, in a child
process that:

- is ``python -I -B`` (no user site, no ``PYTHON*`` variables, no current
  directory on ``sys.path``, no bytecode written) with a minimal environment
  whose ``HOME`` and ``TMPDIR`` lie inside a fresh temporary folder, which is
  also its working directory and is removed afterwards;
- has ``resource`` limits set before it starts (address space, CPU seconds,
  file size, no core files) and a wall-clock timeout after which its whole
  process group is killed;
- is put into a network namespace of its own where the OS allows it
  (``unshare(CLONE_NEWNET)`` as root, ``unshare(CLONE_NEWUSER|CLONE_NEWNET)``
  otherwise): no interface but a downed loopback. Where that fails the child
  still runs, and :attr:`RunResult.isolation` says which layers held;
- installs an audit hook (:mod:`moonshine_core.sandbox_kernel`) that refuses
  sockets, new processes, ``ctypes`` calls, and writes outside the folder.

The output of the *last* cell is what it printed plus the ``repr`` of its last
expression statement (``'/mnt/data/x.xlsx'`` for a string), which is what
the code interpreter logged. Earlier cells set up state: a cell that raises
does not stop the next one, as in a notebook.

    >>> result = run_cells(["x = 41", "x + 1"])
    >>> result.stdout, result.ok
    ('42', True)
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

_KERNEL = Path(__file__).with_name("sandbox_kernel.py")
_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
#: Thread pools of numeric libraries reserve address space per thread; one thread keeps
#: an address-space limit meaningful and the run deterministic.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS")


@attrs.frozen(kw_only=True)
class Limits:
    """What a sandboxed run may use.

    ``timeout_s`` is wall-clock time for the whole run (CPU time is capped a
    second above it); ``memory_mb`` the address space; ``max_file_mb`` the size
    of any file it writes; ``max_output_chars`` how much of each cell's stdout
    and stderr is kept.
    """

    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_file_mb: int = 64
    max_output_chars: int = 100_000


@attrs.frozen(kw_only=True)
class RunResult:
    """How a run ended.

    ``stdout``
        The last cell's output: what it printed, then the repr of its last expression.
    ``stderr``
        Every cell's stderr (warnings, tracebacks), in order.
    ``ok``
        The run finished and the last cell raised nothing.
    ``timed_out``
        The wall-clock or CPU limit stopped it.
    ``error``
        The exception the last cell raised (``"ZeroDivisionError"``, ``"MemoryError"``,
        ``"SandboxRefused"``, a ``PermissionError``, for what the guard refused), ``"Timeout"``, ``"SIGXCPU"``-style
        signal names when the child was killed, ``"no_report"`` when it exited without one;
        ``None`` when ``ok``.
    ``isolation``
        ``"netns+audit_hook"`` when the child ran in a network namespace of its own,
        ``"audit_hook"`` when only the audit hook kept it off the network.
    ``failed_cells``
        Indexes of the cells that raised.
    """

    stdout: str
    stderr: str
    ok: bool
    timed_out: bool
    error: str | None
    isolation: str
    failed_cells: tuple[int, ...] = ()


def _libc_unshare():
    """``unshare(2)`` from the C library, resolved once in the parent (the forked child only calls it)."""
    try:
        return ctypes.CDLL(None, use_errno=True).unshare
    except (OSError, AttributeError):
        return None


_UNSHARE = _libc_unshare()


def _child_setup(limits: Limits):
    """The ``preexec_fn``: limits first, then a private network namespace if the OS lets us."""
    memory = limits.memory_mb << 20
    cpu = math.ceil(limits.timeout_s) + 1
    size = limits.max_file_mb << 20
    flags = _CLONE_NEWNET if os.geteuid() == 0 else _CLONE_NEWUSER | _CLONE_NEWNET

    def setup() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if _UNSHARE is not None:
            _UNSHARE(flags)   # a failure leaves the namespace as it was; the kernel reports which one it got

    return setup


def _environment(root: Path) -> dict[str, str]:
    env = {"HOME": str(root / "home"), "TMPDIR": str(root / "tmp"), "TMP": str(root / "tmp"),
           "TEMP": str(root / "tmp"), "PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(root / "tmp")}
    env.update({name: "1" for name in _THREAD_VARS})
    return env


def _remove_tree(root: Path) -> None:
    """Remove the sandbox folder even where the code took away permissions inside it."""
    def retry(function, path, _exc_info) -> None:
        try:
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
            function(path)
        except OSError:
            pass

    shutil.rmtree(root, onerror=retry)


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal_{-returncode}"


def _netns_inode() -> int | None:
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return None


def run_cells(cells: Sequence[str], limits: Limits | None = None) -> RunResult:
    """Run ``cells`` in order in one fresh sandboxed interpreter; see the module docstring."""
    limits = limits or Limits()
    root = Path(tempfile.mkdtemp(prefix="moonshine-sandbox-"))
    try:
        for sub in ("work", "home", "tmp"):
            (root / sub).mkdir()
        payload, report = root / "payload.json", root / "report.json"
        parent_netns = _netns_inode()
        payload.write_text(json.dumps({"root": str(root), "work": str(root / "work"), "cells": list(cells),
                                       "parent_netns": parent_netns, "report": str(report),
                                       "max_output_chars": limits.max_output_chars}), encoding="utf-8")
        with open(root / "stdout.raw", "wb") as out, open(root / "stderr.raw", "wb") as err:
            proc = subprocess.Popen([sys.executable, "-I", "-B", "-X", "utf8", str(_KERNEL), str(payload)],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=root / "work",
                                    env=_environment(root), close_fds=True, start_new_session=True,
                                    preexec_fn=_child_setup(limits))
            timed_out = False
            try:
                proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)   # the child and anything it managed to start
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
        return _result(proc.returncode, report, root / "stderr.raw", timed_out, limits)
    finally:
        _remove_tree(root)


def run_code(code: str, limits: Limits | None = None) -> RunResult:
    """Run one cell (see :func:`run_cells`)."""
    return run_cells([code], limits)


def _result(returncode: int, report: Path, raw_stderr: Path, timed_out: bool, limits: Limits) -> RunResult:
    data: dict = {}
    if report.exists():
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            data = {}
    isolation = "netns+audit_hook" if data.get("netns") else "audit_hook"
    cells = data.get("cells")
    if timed_out or not data.get("finished") or not isinstance(cells, list):
        with open(raw_stderr, "rb") as handle:
            stderr = handle.read(limits.max_output_chars).decode("utf-8", "replace")
        killed = _signal_name(returncode) if returncode < 0 else None
        timed_out = timed_out or killed == "SIGXCPU"
        error = "Timeout" if timed_out else (killed or "no_report")
        return RunResult(stdout="", stderr=stderr, ok=False, timed_out=timed_out, error=error, isolation=isolation)
    failed = tuple(i for i, cell in enumerate(cells) if cell.get("error"))
    last = cells[-1] if cells else {"stdout": "", "error": None}
    return RunResult(stdout=str(last.get("stdout") or ""), stderr="".join(str(c.get("stderr") or "") for c in cells),
                     ok=last.get("error") is None, timed_out=False, error=last.get("error"), isolation=isolation,
                     failed_cells=failed)


_IMPORTABLE: dict[str, bool] = {}
_FIND_SPECS = ("import importlib.util, json, sys\n"
               "names = json.loads(sys.argv[1])\n"
               "print(json.dumps({n: importlib.util.find_spec(n) is not None for n in names}))")


def importable(names: Iterable[str]) -> dict[str, bool]:
    """Whether each top-level module name can be imported by the interpreter the sandbox runs.

    Only ``importlib.util.find_spec`` runs (no module is imported), in a
    ``python -I`` child so the answer matches the sandbox's ``sys.path``.
    Answers are cached for the life of the process.
    """
    names = list(names)
    wanted = sorted({n for n in names if n.isidentifier()} - set(_IMPORTABLE))
    if wanted:
        done = subprocess.run([sys.executable, "-I", "-B", "-c", _FIND_SPECS, json.dumps(wanted)],
                              capture_output=True, text=True, timeout=60, env={"PATH": os.defpath})
        found = json.loads(done.stdout) if done.returncode == 0 else {}
        _IMPORTABLE.update({name: bool(found.get(name)) for name in wanted})
    return {n: _IMPORTABLE.get(n, False) for n in names}
