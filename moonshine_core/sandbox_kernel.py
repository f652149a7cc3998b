"""The child side of :mod:`moonshine_core.sandbox`: a tiny Jupyter-like kernel behind an audit hook.

Run as a script (``python -I -B sandbox_kernel.py PAYLOAD``), never imported
by Moonshine itself. It reads the payload (cells, the sandbox folder), checks
whether it landed in a network namespace of its own, installs a
:func:`sys.addaudithook` guard, and runs the cells one after the other in one
namespace, the way ChatGPT's code interpreter (a Jupyter kernel) did: a
cell's output is what it printed plus the ``repr`` of its last expression
statement. The report goes to a JSON file in the sandbox folder.

The guard refuses network use (connect, bind, name lookups, sends), new
processes (``subprocess``, ``os.system``, ``os.exec*``, ``os.fork``,
``posix_spawn``), foreign calls through ``ctypes``, killing other processes,
and any write, rename, removal or permission change outside the sandbox
folder. Audit hooks are not a security boundary on their own (CPython says
so); the parent adds resource limits, a fresh network namespace where the OS
allows, a minimal environment and a process-group kill.

Only the standard library is used here: this file runs in the interpreter
the sandbox starts, before any user code.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import os
import pprint
import sys
import traceback

_NET_EVENTS = frozenset({"socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
                         "socket.gethostbyname_ex", "socket.gethostbyaddr", "socket.getnameinfo",
                         "socket.sendto", "socket.sendmsg"})
_PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                             "os.fork", "os.forkpty", "os.startfile"})
# ``import ctypes`` itself opens the main program (``dlopen(None)``, numpy does it on import);
# resolving a symbol or calling through it is what reaches libc.
_CTYPES_EVENTS = frozenset({"ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.cdata",
                            "ctypes.cdata/buffer", "ctypes.string_at", "ctypes.wstring_at", "ctypes.PyObj_FromPtr"})
#: Filesystem changes: event -> positions of the path arguments and of their ``dir_fd``.
_PATH_EVENTS = {
    "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),), "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),), "os.utime": ((0, 3),), "os.truncate": ((0, None),), "os.chflags": ((0, None),),
    "os.lchflags": ((0, None),), "os.setxattr": ((0, None),), "os.removexattr": ((0, None),),
    "os.rename": ((0, 2), (1, 3)), "os.link": ((0, 2), (1, 3)), "os.symlink": ((1, 2),),
    "shutil.chown": ((0, None),),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class SandboxRefused(PermissionError):
    """What the guard raises: an ``OSError`` subclass, so ordinary error handling sees a failure."""


def _path_of(value: object, dir_fd: object) -> str | None:
    """An absolute, symlink-resolved path, or ``None`` for an open file descriptor."""
    if isinstance(value, int):
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not isinstance(value, str):
        return ""
    if not os.path.isabs(value) and isinstance(dir_fd, int) and dir_fd >= 0:   # CPython passes -1 for "none"
        try:
            value = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), value)
        except OSError:
            return ""   # a directory we cannot name is not the sandbox folder
    return os.path.realpath(value)


def make_guard(root: str):
    """The audit hook: refuses the events above, and changes to the filesystem outside ``root``."""
    root = os.path.realpath(root)
    me = os.getpid()

    def inside(path: str | None) -> bool:
        return path is None or path == root or path.startswith(root + os.sep) or path == os.devnull

    def guard(event: str, args: tuple) -> None:
        if event == "open":
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
            if (flags & _WRITE_FLAGS or any(c in mode for c in "wax+")) and not inside(_path_of(args[0], None)):
                raise SandboxRefused(f"sandbox: writing {args[0]!r} outside the sandbox folder is not allowed")
        elif event in _PATH_EVENTS:
            for index, fd_index in _PATH_EVENTS[event]:
                dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
                if index < len(args) and not inside(_path_of(args[index], dir_fd)):
                    raise SandboxRefused(f"sandbox: {event} on {args[index]!r} outside the sandbox folder is not allowed")
        elif event in _NET_EVENTS:
            raise SandboxRefused(f"sandbox: network access ({event}) is not allowed")
        elif event in _PROCESS_EVENTS:
            raise SandboxRefused(f"sandbox: starting processes ({event}) is not allowed")
        elif event in _CTYPES_EVENTS or (event == "ctypes.dlopen" and args and args[0] is not None):
            raise SandboxRefused(f"sandbox: foreign calls ({event}) are not allowed")
        elif event in ("os.kill", "os.killpg") and args and args[0] not in (me, 0):
            raise SandboxRefused(f"sandbox: signalling other processes ({event}) is not allowed")
        elif event == "import" and args and args[0] == "_posixsubprocess":
            raise SandboxRefused("sandbox: re-importing _posixsubprocess is not allowed")

    return guard


def _refuse_fork_exec(*args, **kwargs):
    raise SandboxRefused("sandbox: starting processes (_posixsubprocess.fork_exec) is not allowed")


class CappedText(io.TextIOBase):
    """A text sink that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.size, self.dropped = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self.limit - self.size
        kept = text[:max(room, 0)]
        self.parts.append(kept)
        self.size += len(kept)
        self.dropped += len(text) - len(kept)
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)


def _legacy_numpy_repr() -> None:
    """Print numpy scalars as numpy 1.x did (``0.5``, not ``np.float64(0.5)``): the code
    interpreter that produced the logged outputs ran numpy 1.x."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and hasattr(numpy, "set_printoptions"):
        try:
            numpy.set_printoptions(legacy="1.25")
        except (TypeError, ValueError):
            pass


def display(value: object) -> str:
    """What a Jupyter kernel shows for a cell's last expression (``pprint`` for containers)."""
    _legacy_numpy_repr()
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return pprint.pformat(value, sort_dicts=False)
    return repr(value)


def run_cell(source: str, namespace: dict, index: int, out: CappedText, err: CappedText) -> str | None:
    """Run one cell; returns the name of the exception it raised, if any."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        tree = ast.parse(source, filename=f"<cell {index}>")
        last = None
        # A trailing ``;`` hides the value, as in Jupyter.
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not source.rstrip().endswith(";"):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, f"<cell {index}>", "exec"), namespace)
        if last is not None:
            value = eval(compile(last, f"<cell {index}>", "eval"), namespace)
            if value is not None:
                out.write(display(value))
        return None
    except BaseException as exc:   # a cell's SystemExit or KeyboardInterrupt ends the cell, not the kernel
        # The kernel's own frame is not the user's business: the traceback starts in the cell.
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        traceback.print_exception(type(exc), exc, tb or exc.__traceback__, file=err)
        return type(exc).__name__
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _write_report(path: str, report: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle)


def main(payload_path: str) -> None:
    with open(payload_path, encoding="utf-8") as handle:
        payload = json.load(handle)
    root, limit = payload["root"], int(payload["max_output_chars"])
    netns = payload.get("parent_netns") is not None and os.stat("/proc/self/ns/net").st_ino != payload["parent_netns"]
    # Written first so a run that is killed still says where it ran.
    _write_report(payload["report"], {"netns": netns, "finished": False, "cells": []})
    os.chdir(payload["work"])
    import _posixsubprocess

    _posixsubprocess.fork_exec = _refuse_fork_exec
    sys.addaudithook(make_guard(root))
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    cells = []
    for index, source in enumerate(payload["cells"]):
        out, err = CappedText(limit), CappedText(limit)
        error = run_cell(source, namespace, index, out, err)
        cells.append({"stdout": out.getvalue(), "stderr": err.getvalue(), "error": error,
                      "truncated": out.dropped + err.dropped})
    _write_report(payload["report"], {"netns": netns, "finished": True, "cells": cells})
    os._exit(0)   # no interpreter teardown: user objects' finalisers never run outside a cell


if __name__ == "__main__":
    main(sys.argv[1])
