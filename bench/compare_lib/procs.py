"""Servers that bench/compare starts, and making sure they stop.

Every server runs in a session of its own, so stopping it reaches the processes it
forked too (uvicorn's workers). A Supervisor stops what it started on normal exit, on an
exception, and on SIGINT / SIGTERM / SIGHUP, which it turns into SystemExit so that the
`finally` blocks of the caller run.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import List, Optional, Tuple


class BenchError(Exception):
    """A problem the user must fix; printed without a traceback."""


def log(message: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A port that was free a moment ago (the peer needs one before it starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def http_status(url: str, timeout: float = 2.0) -> Optional[int]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


def http_get(url: str, timeout: float = 30.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


class Supervisor:
    def __init__(self) -> None:
        self.procs: List[Tuple[str, subprocess.Popen]] = []
        self._previous = {}

    def __enter__(self) -> "Supervisor":
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        raise SystemExit(f"compare: interrupted by signal {signum}; servers stopped")

    def start(self, name: str, argv: List[str], log_path: Path, env=None) -> subprocess.Popen:
        log_file = open(log_path, "wb")
        try:
            proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        finally:
            log_file.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 15.0) -> Optional[int]:
        """SIGTERM to the server's own process group, SIGKILL if it lingers."""
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        # Workers a server forked may outlive it briefly.
        _signal_group(proc, signal.SIGKILL)
        self.procs = [(n, p) for n, p in self.procs if p is not proc]
        return proc.returncode

    def stop_all(self) -> None:
        for name, proc in list(self.procs):
            try:
                self.stop(proc, timeout=10)
            except Exception as e:  # keep stopping the others
                log(f"could not stop {name} (pid {proc.pid}): {e}")


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        # The server is its session's leader, so its process group id is its pid.
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_ferry(sup: Supervisor, ferry: Path, repository: Path, log_path: Path,
                timeout: float = 180.0) -> Tuple[subprocess.Popen, int, int]:
    """`ferry serve` on free ports; returns (process, http port, grpc port)."""
    proc = sup.start("ferry serve", [str(ferry), "serve", "--model-repository", str(repository),
                                     "--host", "127.0.0.1", "--http-port", "0",
                                     "--grpc-port", "0"], log_path)
    deadline = time.monotonic() + timeout
    http_port = grpc_port = None
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        m = re.search(r"gRPC listening on [^ ]*:(\d+)", text)
        grpc_port = int(m.group(1)) if m else grpc_port
        m = re.search(r"listening on http://[^ ]*:(\d+)", text)
        if m:
            http_port = int(m.group(1))
            break
        if proc.poll() is not None:
            raise BenchError(f"ferry serve exited with {proc.returncode}; see {log_path}:\n"
                             f"{tail(log_path)}")
        time.sleep(0.1)
    if http_port is None:
        raise BenchError(f"ferry serve did not listen within {timeout:.0f} s; see {log_path}")
    if grpc_port is None:
        raise BenchError(f"ferry serve started without gRPC; see {log_path}")
    if http_status(f"http://127.0.0.1:{http_port}/v2/health/ready", timeout=10) != 200:
        raise BenchError(f"ferry serve is not ready on port {http_port}; see {log_path}")
    return proc, http_port, grpc_port


def start_peer(sup: Supervisor, script: Path, repository: Path, model: str, workers: int,
               threads: int, log_path: Path) -> Tuple[subprocess.Popen, int]:
    """The FastAPI peer on a free port; returns (process, port) without waiting for it."""
    port = free_port()
    proc = sup.start(f"peer {model} {workers}x{threads}",
                     ["/usr/bin/python3", str(script), "--model-repository", str(repository),
                      "--model", model, "--port", str(port), "--workers", str(workers),
                      "--threads", str(threads)], log_path)
    return proc, port


def wait_ready(proc: subprocess.Popen, port: int, what: str, log_path: Path,
               timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_status(f"http://127.0.0.1:{port}/v2/health/ready") == 200:
            return
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with {proc.returncode}; see {log_path}:\n"
                             f"{tail(log_path)}")
        time.sleep(0.25)
    raise BenchError(f"{what} was not ready within {timeout:.0f} s; see {log_path}")
