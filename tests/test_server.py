"""The embedded server's process handling, without the model: the parent-death signal and stop()."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from extract import server
from extract.server import PR_SET_PDEATHSIG, EmbeddedServer, _die_with_parent

REPO = Path(__file__).resolve().parent.parent
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
#: A child that ignores SIGTERM (as a busy llama.cpp does, for the rest of its generation).
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
#: A parent that starts the stubborn child with the server's preexec function, prints its pid, then waits to be killed.
PARENT = f"""
import subprocess, sys, time
from extract.server import _die_with_parent
child = subprocess.Popen([sys.executable, "-c", {STUBBORN!r}], stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its reaper does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@linux_only
def test_the_parent_death_signal_is_sigkill(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class Libc:
        def prctl(self, option: int, value: int) -> int:
            calls.append((option, value))
            return 0

    monkeypatch.setattr("ctypes.CDLL", lambda *args, **kwargs: Libc())
    _die_with_parent()
    assert calls == [(PR_SET_PDEATHSIG, signal.SIGKILL)]


@linux_only
def test_the_server_dies_with_its_parent_even_while_ignoring_sigterm() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert _alive(child)
        parent.kill()  # kill -9 of `extract run`: no cleanup runs
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the child outlived its parent"
    finally:
        parent.kill()


def test_stop_asks_politely_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    embedded = EmbeddedServer(tmp_path / "model.gguf", port=1)
    embedded._proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    embedded.stop()
    assert embedded._proc.returncode == -signal.SIGTERM
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    stubborn.stdout.readline()  # type: ignore[union-attr]
    embedded._proc = stubborn
    monkeypatch.setattr(server.subprocess.Popen, "wait", _short_wait(subprocess.Popen.wait))
    embedded.stop()  # SIGTERM ignored: SIGKILL after the wait
    assert stubborn.returncode == -signal.SIGKILL


def _short_wait(wait):  # type: ignore[no-untyped-def]
    """Popen.wait with stop()'s 3 s grace cut to 0.2 s."""
    return lambda self, timeout=None: wait(self, timeout=None if timeout is None else min(timeout, 0.2))


#: A server that lists its model, then dies of SIGILL on its first generation, as a llama.cpp
#: built for instructions the CPU refuses does.
CRASHING = """
import http.server, os, signal, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"data": []}')
    def do_POST(self):
        os.kill(os.getpid(), signal.SIGILL)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@linux_only
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_server_that_dies_on_its_first_generation_is_named_with_the_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.importlib.util, "find_spec", lambda name: object())  # llama_cpp "installed"
    crashing = EmbeddedServer(tmp_path / "model.gguf", log_path=tmp_path / "log")
    monkeypatch.setattr(crashing, "command", lambda: [sys.executable, "-c", CRASHING, str(crashing.port)])
    with pytest.raises(server.ModelUnavailableError, match=r"died on its first generation \(exit -4.*GGML_NATIVE=OFF"):
        crashing.start(timeout_s=30)
    assert crashing._proc is None or crashing._proc.poll() is not None
