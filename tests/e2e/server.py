"""Helpers for Ferry's end-to-end tests: start a real `ferry serve` process, build model
repositories, load real Fashion-MNIST images, talk HTTP.

Run the suite from the repository root:

    /usr/bin/python3 -m unittest discover -s tests/e2e -p "test_*.py" -v

FERRY_BIN names the server binary (ctest sets it; default build/ferry).
FERRY_E2E_KEEP_LOGS=1 keeps each server's log folder (its path is printed).
"""

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS = REPO_ROOT / "models"
EXAMPLES = REPO_ROOT / "examples"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
START_TIMEOUT_S = 120.0
# What GET /v2 and gRPC ServerMetadata list: exactly the extensions Ferry implements.
EXTENSIONS = ["classification", "binary_tensor_data", "model_repository", "statistics",
              "model_configuration", "logging", "system_shared_memory", "sequence"]
LISTENING_RE = re.compile(r"listening on http://([^\s:/]+):(\d+)")


def ferry_bin() -> Path:
    path = Path(os.environ.get("FERRY_BIN", "build/ferry"))
    return path if path.is_absolute() else REPO_ROOT / path


def require_models(*names: str) -> None:
    """Skips the calling test (class) when the bundled models are not there yet."""
    missing = [n for n in names if not (MODELS / n / "config.toml").is_file()
               or not (MODELS / n / "1" / "model.pt").is_file()]
    if missing:
        raise unittest.SkipTest(f"bundled model(s) {missing} not found under {MODELS} "
                                "(run tools/train_models.py)")


# ---- model repositories -------------------------------------------------------------

def copy_model(repo: Path, source: str, name: Optional[str] = None,
               config: Optional[str] = None, model_pt: Optional[bytes] = None,
               with_model_pt: bool = True) -> Path:
    """Copies models/<source> into <repo>/<name>, optionally replacing config.toml and
    version 1's model.pt. Returns the new model folder."""
    src = MODELS / source
    dst = repo / (name or source)
    (dst / "1").mkdir(parents=True)
    for extra in ("labels.txt",):
        if (src / extra).is_file():
            shutil.copy(src / extra, dst / extra)
    (dst / "config.toml").write_text(
        config if config is not None else (src / "config.toml").read_text())
    if model_pt is not None:
        (dst / "1" / "model.pt").write_bytes(model_pt)
    elif with_model_pt:
        shutil.copy(src / "1" / "model.pt", dst / "1" / "model.pt")
    return dst


def model_config(name: str) -> dict:
    with open(MODELS / name / "config.toml", "rb") as fh:
        return tomllib.load(fh)


def simple_config(max_batch_size: int = 8, max_queue_delay_us: int = 0,
                  preferred: Sequence[int] = (), max_queue_size: int = 1024,
                  workers: int = 1, extra_batching: str = "",
                  outputs: Sequence[str] = ("OUTPUT0", "OUTPUT1")) -> str:
    """A config.toml for the `simple` model (INT32 INPUT0/INPUT1 [-1,16])."""
    tensors = "".join(
        f'[[{kind}]]\nname = "{n}"\ndatatype = "INT32"\nshape = [-1, 16]\n\n'
        for kind, names in (("inputs", ("INPUT0", "INPUT1")), ("outputs", outputs))
        for n in names)
    return (
        'platform = "torchscript"\n'
        f"max_batch_size = {max_batch_size}\n\n"
        f"{tensors}"
        "[batching]\n"
        f"max_queue_delay_us = {max_queue_delay_us}\n"
        f"preferred_batch_sizes = [{', '.join(str(p) for p in preferred)}]\n"
        f"max_queue_size = {max_queue_size}\n"
        f"{extra_batching}\n"
        "[execution]\n"
        f"workers = {workers}\n"
        "intra_op_threads = 1\n"
        "warmup_batch_sizes = [1]\n")


# ---- data ---------------------------------------------------------------------------

_T10K = None


def _read_idx_gz(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path}: not a uint8 idx file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_test_set():
    """(images uint8 [N,28,28], labels uint8 [N]) of real Fashion-MNIST test images.

    The t10k files from Debian's dataset-fashion-mnist; without them, the few real test
    images in examples/*.json with their labels from examples/expected.json."""
    global _T10K
    if _T10K is None:
        images = FASHION_DIR / "t10k-images-idx3-ubyte.gz"
        labels = FASHION_DIR / "t10k-labels-idx1-ubyte.gz"
        if images.is_file() and labels.is_file():
            _T10K = (_read_idx_gz(images), _read_idx_gz(labels))
        else:
            _T10K = _examples_test_set()
    return _T10K


def _examples_test_set():
    expected = json.loads((EXAMPLES / "expected.json").read_text())
    images, labels = [], []
    for fname, rows in expected["requests"].items():
        body = json.loads((EXAMPLES / fname).read_text())
        data = np.asarray(body["inputs"][0]["data"], dtype=np.float64).reshape(-1, 28, 28)
        for row, info in zip(data, rows):
            images.append(row.astype(np.uint8))
            labels.append(info["label"])
    return np.stack(images), np.asarray(labels, dtype=np.uint8)


def image_request(images: np.ndarray, nested: bool = False, request_id: Optional[str] = None,
                  outputs: Optional[list] = None, name: str = "image") -> dict:
    """A V2 infer request for uint8 images [N,28,28] (sent as FP32 pixels 0..255)."""
    images = np.asarray(images).reshape(-1, 28, 28)
    n = images.shape[0]
    pixels = images.astype(np.float64).reshape(n, 1, 28, 28)
    body = {"inputs": [{"name": name, "shape": [n, 1, 28, 28], "datatype": "FP32",
                        "data": pixels.tolist() if nested else pixels.reshape(-1).tolist()}]}
    if request_id is not None:
        body["id"] = request_id
    if outputs is not None:
        body["outputs"] = outputs
    return body


def simple_request(a: np.ndarray, b: np.ndarray, request_id: Optional[str] = None) -> dict:
    a = np.asarray(a, dtype=np.int64).reshape(-1, 16)
    b = np.asarray(b, dtype=np.int64).reshape(-1, 16)
    body = {"inputs": [
        {"name": "INPUT0", "shape": list(a.shape), "datatype": "INT32", "data": a.reshape(-1).tolist()},
        {"name": "INPUT1", "shape": list(b.shape), "datatype": "INT32", "data": b.reshape(-1).tolist()},
    ]}
    if request_id is not None:
        body["id"] = request_id
    return body


def output(response_json: dict, name: str) -> dict:
    for out in response_json.get("outputs", []):
        if out.get("name") == name:
            return out
    raise AssertionError(f"output {name!r} missing from response {str(response_json)[:300]}")


def output_array(response_json: dict, name: str, dtype=np.float32) -> np.ndarray:
    out = output(response_json, name)
    return np.asarray(out["data"], dtype=dtype).reshape(out["shape"])


# ---- the server process ---------------------------------------------------------------

class FerryServer:
    """One `ferry serve` process on a free port, logging to a temp file."""

    def __init__(self, repository: Path, args: Iterable[str] = (), name: str = "ferry"):
        self.repository = Path(repository)
        self.args = list(args)
        self.name = name
        self.proc: Optional[subprocess.Popen] = None
        self.host = "127.0.0.1"
        self.port = 0
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ferry-e2e-{name}-"))
        self.log_path = self.workdir / "server.log"
        self._log_file = None
        self.exit_code: Optional[int] = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def command(self) -> List[str]:
        # A free gRPC port too, so that test servers never contend for the default 8001.
        grpc = [] if "--grpc-port" in self.args else ["--grpc-port", "0"]
        # The registry's database in the server's own folder, removed with it.
        workdir = getattr(self, "workdir", None)
        db = [] if "--registry-db" in self.args or workdir is None else [
            "--registry-db", str(workdir / "registry.db")]
        return [str(ferry_bin()), "serve", "--model-repository", str(self.repository),
                "--http-port", "0", "--host", "127.0.0.1", *grpc, *db, *self.args]

    def start(self, timeout: float = START_TIMEOUT_S) -> "FerryServer":
        binary = ferry_bin()
        if not binary.is_file():
            raise AssertionError(f"server binary {binary} not found; build it or set FERRY_BIN")
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = LISTENING_RE.search(self.log())
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                return self
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.stop()
                raise AssertionError(f"ferry exited with {code} before listening; "
                                     f"log:\n{self.log_tail()}")
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"ferry did not log 'listening on' within {timeout:.0f} s; "
                             f"log:\n{self.log_tail()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self) -> int:
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("VmRSS missing from /proc status")

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        self.exit_code = self.proc.wait(timeout=timeout)
        return self.exit_code

    def stop(self) -> Optional[int]:
        """Stops the server (SIGTERM, then SIGKILL after 10 s). Returns the exit code the
        process had if it had already exited on its own, else None."""
        died_early = None
        if self.proc is not None:
            if self.proc.poll() is not None:
                died_early = self.proc.returncode
            else:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if os.environ.get("FERRY_E2E_KEEP_LOGS"):
            print(f"[{self.name}] server log kept in {self.log_path}", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return died_early


class ServerTestCase(unittest.TestCase):
    """Shares one server per test class. Subclasses set `models` (bundled models to copy
    into a temp repository), or override `build_repository`, and `server_args`."""

    models: Sequence[str] = ()
    server_args: Sequence[str] = ()
    server: FerryServer = None

    @classmethod
    def build_repository(cls, repo: Path) -> None:
        for name in cls.models:
            copy_model(repo, name)

    @classmethod
    def required_models(cls) -> Sequence[str]:
        return cls.models

    @classmethod
    def setUpClass(cls):
        require_models(*cls.required_models())
        cls._repo_dir = Path(tempfile.mkdtemp(prefix="ferry-e2e-repo-"))
        try:
            cls.build_repository(cls._repo_dir)
            cls.server = FerryServer(cls._repo_dir, cls.server_args, name=cls.__name__).start()
        except BaseException:
            shutil.rmtree(cls._repo_dir, ignore_errors=True)
            raise
        cls.base = cls.server.base_url
        cls.http = requests.Session()

    @classmethod
    def tearDownClass(cls):
        cls.http.close()
        log_tail = cls.server.log_tail()
        died = cls.server.stop()
        shutil.rmtree(cls._repo_dir, ignore_errors=True)
        if died is not None:
            raise AssertionError(f"the server died during {cls.__name__} with exit code {died}; "
                                 f"log:\n{log_tail}")

    # -- conveniences --
    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, body=None, data=None, **kw) -> requests.Response:
        if body is not None:
            data = json.dumps(body)
        headers = kw.pop("headers", {"Content-Type": "application/json"})
        return self.http.post(self.url(path), data=data, headers=headers,
                              timeout=kw.pop("timeout", 60), **kw)

    def infer(self, model: str, body=None, data=None, version: Optional[str] = None,
              **kw) -> requests.Response:
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        return self.post(path, body=body, data=data, **kw)

    def assertOk(self, r: requests.Response) -> dict:
        self.assertEqual(r.status_code, 200, f"{r.request.method} {r.url}: {r.text[:500]}")
        return r.json()

    def assertError(self, r: requests.Response, status: int,
                    mentions: Sequence[str] = (), any_of: Sequence[str] = ()) -> str:
        """Checks an error response: the status, a JSON body {"error": "<non-empty>"} and
        that the message names every string in `mentions` and one of `any_of`."""
        what = f"{r.request.method} {r.url} -> {r.status_code} {r.text[:300]!r}"
        self.assertEqual(r.status_code, status, what)
        try:
            body = r.json()
        except ValueError:
            self.fail(f"error body is not JSON: {what}")
        self.assertIsInstance(body, dict, what)
        message = body.get("error")
        self.assertIsInstance(message, str, what)
        self.assertTrue(message.strip(), what)
        for word in mentions:
            self.assertIn(word.lower(), message.lower(), f"error should mention {word!r}: {what}")
        if any_of:
            self.assertTrue(any(w.lower() in message.lower() for w in any_of),
                            f"error should mention one of {list(any_of)}: {what}")
        return message

    def assertServerAnswers(self) -> None:
        self.assertTrue(self.server.alive(), "server process died; log:\n" + self.server.log_tail())
        r = requests.get(self.url("/v2/health/live"), timeout=10)
        self.assertEqual(r.status_code, 200)


# ---- raw sockets ----------------------------------------------------------------------

class RawReply(bytes):
    """Bytes received on a raw connection; `.closed` tells whether the server closed (or
    reset) the connection, as opposed to the client giving up after its timeout."""
    closed: bool = False


def raw_exchange(host: str, port: int, payload: bytes, timeout: float = 10.0,
                 shutdown_write: bool = False) -> RawReply:
    """Sends `payload` on a fresh connection and returns everything received until the
    server closes the connection, a complete response arrives, or `timeout`."""
    received = b""
    closed = False
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(payload)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            received += chunk
            if _complete_response(received):
                break
    reply = RawReply(received)
    reply.closed = closed
    return reply


def _complete_response(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if m:
        return len(body) >= int(m.group(1))
    return False


def status_of(raw: bytes) -> Optional[int]:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text: str) -> Dict[str, float]:
    """Prometheus text -> {"name{labels}": value} (labels as printed)."""
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            values[key.strip()] = float(value)
        except ValueError:
            continue
    return values


def metric(values: Dict[str, float], name: str, **labels) -> Optional[float]:
    """The value of the series `name` whose labels include `labels` (sum over matches)."""
    total, found = 0.0, False
    for key, value in values.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
            found = True
    return total if found else None
