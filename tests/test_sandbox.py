"""The sandbox: Jupyter-like cells, and code that tries to reach the network, write outside its folder,
start processes, loop forever or eat memory is stopped, with the reason in the result."""

from __future__ import annotations

import os
import socket
import time

import pytest

from moonshine_core.sandbox import Limits, RunResult, importable, run_cells, run_code

REFUSED = "SandboxRefused"


def test_last_cell_output_is_stdout_then_the_repr_of_its_last_expression():
    result = run_cells(["print('setting up')", "path = '/mnt/data/x.xlsx'\nprint('saved')\npath"])
    assert result == RunResult(stdout="saved\n'/mnt/data/x.xlsx'", stderr="", ok=True, timed_out=False,
                               error=None, isolation=result.isolation, failed_cells=())
    # Containers are pretty-printed as a kernel shows them; a trailing ';' or a None shows nothing.
    rows = run_code("[{'page': i, 'width': 500, 'height': 500, 'image_format': 'png'} for i in (1, 2)]")
    assert rows.stdout == ("[{'page': 1, 'width': 500, 'height': 500, 'image_format': 'png'},\n"
                           " {'page': 2, 'width': 500, 'height': 500, 'image_format': 'png'}]")
    assert run_code("x = 5\nx;").stdout == "" and run_code("None").stdout == ""
    assert run_code("x = 1").stdout == ""


def test_state_carries_across_cells_and_a_failing_cell_does_not_stop_the_next():
    result = run_cells(["import math\nnums = [1, 2, 3]", "1 / 0", "total = sum(nums)", "math.sqrt(total * 6)"])
    assert result.ok and result.stdout == "6.0" and result.failed_cells == (1,)
    assert "ZeroDivisionError" in result.stderr
    failed = run_cells(["y = 2", "y / 0"])
    assert not failed.ok and failed.error == "ZeroDivisionError" and not failed.timed_out


def test_numpy_scalars_print_as_the_code_interpreter_printed_them():
    pytest.importorskip("numpy")
    assert run_code("import numpy as np\nnp.float64(0.5)").stdout == "0.5"


def test_no_network_even_to_a_local_listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        result = run_code(f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))")
        assert not result.ok and result.error == REFUSED and "network" in result.stderr
        with pytest.raises(BlockingIOError):
            server.accept()   # nothing ever reached the listener
    finally:
        server.close()
    lookup = run_code("import socket\nsocket.getaddrinfo('example.org', 443)")
    assert not lookup.ok and lookup.error == REFUSED
    urlopen = run_code("import urllib.request\nurllib.request.urlopen('http://example.org', timeout=2)")
    assert not urlopen.ok


def test_a_private_network_namespace_where_the_os_allows_it():
    result = run_code("import socket\n[name for _, name in socket.if_nameindex()]")
    assert result.isolation in ("netns+audit_hook", "audit_hook")
    if result.isolation == "audit_hook":
        pytest.skip("this OS refused a new network namespace; the audit hook alone blocks the network")
    assert result.stdout == "['lo']"   # no interface to the outside world at all


def test_without_a_namespace_the_audit_hook_still_keeps_it_off_the_network(monkeypatch):
    from moonshine_core import sandbox

    monkeypatch.setattr(sandbox, "_UNSHARE", None)   # as on an OS that refuses unshare(2)
    result = run_code("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)")
    assert result.isolation == "audit_hook" and not result.ok and result.error == REFUSED


def test_writes_are_confined_to_the_sandbox_folder_which_is_removed(tmp_path):
    outside = tmp_path / "outside.txt"
    keep = tmp_path / "keep.txt"
    keep.write_text("mine")
    attempts = {
        "open": f"open({str(outside)!r}, 'w').write('x')",
        "os.open": f"import os\nos.open({str(outside)!r}, os.O_WRONLY | os.O_CREAT)",
        "remove": f"import os\nos.remove({str(keep)!r})",
        "rename": f"import os\nos.rename({str(keep)!r}, 'stolen.txt')",
        "rmtree": f"import shutil\nshutil.rmtree({str(tmp_path)!r})",
        "chmod": f"import os\nos.chmod({str(keep)!r}, 0)",
        "symlink": f"import os\nos.symlink({str(keep)!r}, 'link.txt')\nopen('link.txt', 'w').write('x')",
        "hardlink": f"import os\nos.link({str(keep)!r}, 'hard.txt')",
    }
    for name, code in attempts.items():
        result = run_code(code)
        assert not result.ok and result.error == REFUSED, (name, result)
    assert not outside.exists() and keep.read_text() == "mine" and oct(keep.stat().st_mode)[-3:] != "000"
    inside = run_cells(["import os, tempfile\nopen('notes.txt', 'w').write('hello')\n"
                        "os.makedirs('sub/dir')\nopen(os.path.join(tempfile.gettempdir(), 't'), 'w').close()",
                        "import shutil\nshutil.rmtree('sub')",   # fd-relative removal inside the folder
                        "import os\nos.getcwd(), os.environ['HOME'], open('notes.txt').read()"])
    assert inside.ok and inside.failed_cells == (), inside
    cwd, home, text = eval(inside.stdout)
    assert text == "hello" and os.path.dirname(home) == os.path.dirname(cwd)
    assert not os.path.exists(os.path.dirname(cwd))   # the whole sandbox folder is gone


@pytest.mark.parametrize("code", [
    "import subprocess\nsubprocess.run(['true'])",
    "import os\nos.system('true')",
    "import os\nos.execv('/bin/true', ['true'])",
    "import os\nos.fork()",
    "import os\nos.posix_spawn('/bin/true', ['true'], {})",
    "import _posixsubprocess\n_posixsubprocess.fork_exec()",
    "import multiprocessing as mp\nmp.get_context('spawn').Process(target=print).start()",
    "import ctypes\nctypes.CDLL(None).getpid()",
    "import ctypes\nctypes.CDLL('libc.so.6')",
])
def test_no_new_processes_and_no_foreign_calls(code):
    result = run_code(code)
    assert not result.ok and result.error == REFUSED, result


def test_it_cannot_signal_the_process_that_started_it():
    result = run_code("import os, signal\nos.kill(os.getppid(), signal.SIGTERM)")
    assert not result.ok and result.error == REFUSED


def test_an_infinite_loop_and_a_sleep_are_stopped_by_the_timeout():
    for code in ("while True:\n    pass", "import time\ntime.sleep(60)"):
        started = time.monotonic()
        result = run_code(code, Limits(timeout_s=1.5))
        assert result.timed_out and not result.ok and result.error == "Timeout", result
        assert time.monotonic() - started < 10


def test_a_memory_bomb_is_stopped():
    for code in ("x = bytearray(8 * 1024 ** 3)", "chunks = []\nwhile True:\n    chunks.append(' ' * 10 ** 7)"):
        result = run_code(code, Limits(memory_mb=512, timeout_s=20))
        assert not result.ok and result.error == "MemoryError" and not result.timed_out, result


def test_output_and_file_sizes_are_capped():
    flood = run_code("print('x' * 1_000_000)", Limits(max_output_chars=1000))
    assert flood.ok and len(flood.stdout) == 1000
    big = run_code("open('big.bin', 'wb').write(b'0' * (3 << 20))", Limits(max_file_mb=1))
    assert not big.ok and big.error == "OSError" and "File too large" in big.stderr


def test_the_child_sees_a_minimal_environment(monkeypatch):
    monkeypatch.setenv("MOONSHINE_TEST_SECRET", "do-not-leak")
    result = run_code("import os, sys, tempfile\n"
                      "(sorted(k for k in os.environ if 'SECRET' in k), tempfile.gettempdir().startswith(os.path.dirname(os.getcwd())),"
                      " sys.flags.isolated, sys.flags.dont_write_bytecode)")
    assert result.ok and eval(result.stdout) == ([], True, 1, 1)


def test_module_availability_is_asked_without_importing():
    found = importable(["os", "json", "moonshine_no_such_module_x"])
    assert found == {"os": True, "json": True, "moonshine_no_such_module_x": False}
