#!/usr/bin/python3
"""The peer: FastAPI + uvicorn + PyTorch serving a Ferry model folder over V2 JSON.

This is what most teams deploy first, written carefully so that comparing
Ferry against it is fair: the same TorchScript file, frozen and optimized the
same way, the same thread budget, and no needless per-request overhead (no
pydantic body model, no access log, numpy for the tensor conversion). What it
deliberately does NOT do is batch across requests: each request runs its own
forward pass, as in the usual first deployment.

    /usr/bin/python3 bench/peers/fastapi_peer.py --model-repository models \
        --model fashion_cnn --port 8100 --workers 1 --threads 1

Endpoints (a subset of the Open Inference Protocol, KServe V2):
    GET  /v2/health/live, /v2/health/ready
    GET  /v2/models/{name}[/versions/1][/ready]
    POST /v2/models/{name}[/versions/1]/infer

Settings reach the workers through FERRY_PEER_* environment variables, since
uvicorn starts multiple workers from an import string ("fastapi_peer:app").
See bench/peers/README.md.
"""

import argparse
import importlib.util
import json
import logging
import math
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
ENV_PREFIX = "FERRY_PEER_"
log = logging.getLogger("fastapi_peer")

NUMPY_DTYPES = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64,
                "INT16": np.int16, "INT8": np.int8, "UINT8": np.uint8, "BOOL": np.bool_}


class BadRequest(Exception):
    pass


class Served:
    """The one model this process serves, loaded the way Ferry loads it."""

    def __init__(self, repository: Path, name: str, threads: int, optimize: bool,
                 quantized_engine: str):
        self.name = name
        folder = repository / name
        with open(folder / "config.toml", "rb") as fh:
            config = tomllib.load(fh)
        if len(config.get("inputs", [])) != 1:
            raise SystemExit(f"{name}: the peer serves single-input models only")
        self.input = config["inputs"][0]
        self.outputs = config["outputs"]
        self.max_batch = int(config.get("max_batch_size", 0))
        self.dtype = NUMPY_DTYPES[self.input["datatype"]]
        self.inner_shape = [int(d) for d in self.input["shape"][1:]]
        self.metadata = {
            "name": name, "versions": ["1"], "platform": "pytorch_torchscript",
            "inputs": [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"]}
                       for t in config["inputs"]],
            "outputs": [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"]}
                        for t in config["outputs"]],
        }

        # Process-wide torch settings, before anything runs: one intra-op pool of
        # `threads`, no inter-op pool (these graphs never fork).
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        # int8 weights are packed for the engine selected while loading.
        if quantized_engine in torch.backends.quantized.supported_engines:
            torch.backends.quantized.engine = quantized_engine
        else:
            raise SystemExit(f"quantized engine {quantized_engine!r} not in "
                             f"{torch.backends.quantized.supported_engines}")

        plain = torch.jit.load(str(folder / "1" / "model.pt"), map_location="cpu")
        plain.eval()
        self.module, self.how = plain, "plain module"
        if optimize:
            try:
                fast = torch.jit.optimize_for_inference(torch.jit.freeze(plain))
                probe = self._probe(1)
                with torch.inference_mode():
                    want, got = plain(probe), fast(probe)
                if not torch.allclose(want, got, rtol=1e-4, atol=1e-4):
                    raise RuntimeError("optimized module disagrees with the plain one")
                self.module, self.how = fast, "frozen + optimize_for_inference"
            except Exception as e:  # noqa: BLE001 - serve the plain module instead
                log.warning("%s: freeze/optimize failed (%s); serving the plain module", name, e)
        # Warm up at the batch sizes the model's config names, so the profiling
        # executor has specialized the graph before the first timed request.
        warm = config.get("execution", {}).get("warmup_batch_sizes", [1])
        if warm == "all":  # every size up to max_batch_size, as Ferry reads it
            warm = range(1, max(1, int(config.get("max_batch_size", 1))) + 1)
        with torch.inference_mode():
            for b in warm:
                for _ in range(3):
                    self.module(self._probe(int(b)))
        log.warning("serving %s (%s), %d intra-op thread(s), quantized engine %s, pid %d",
                    name, self.how, torch.get_num_threads(), torch.backends.quantized.engine,
                    os.getpid())

    def _probe(self, batch: int) -> torch.Tensor:
        return torch.from_numpy(np.zeros([batch, *self.inner_shape], dtype=self.dtype))

    def parse(self, body: bytes) -> Dict[str, Any]:
        try:
            request = json.loads(body)
        except ValueError as e:
            raise BadRequest(f"malformed JSON: {e}") from None
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
            raise BadRequest("request must be an object with an 'inputs' list")
        if len(request["inputs"]) != 1:
            raise BadRequest(f"expected 1 input, got {len(request['inputs'])}")
        tensor = request["inputs"][0]
        if not isinstance(tensor, dict):
            raise BadRequest("input must be an object")
        if tensor.get("name") != self.input["name"]:
            raise BadRequest(f"unexpected input '{tensor.get('name')}', "
                             f"the model takes '{self.input['name']}'")
        if tensor.get("datatype") != self.input["datatype"]:
            raise BadRequest(f"input '{self.input['name']}' must be {self.input['datatype']}, "
                             f"got {tensor.get('datatype')}")
        shape = tensor.get("shape")
        if (not isinstance(shape, list) or len(shape) != len(self.input["shape"])
                or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
                or shape[1:] != self.inner_shape or shape[0] < 1
                or (self.max_batch > 0 and shape[0] > self.max_batch)):
            raise BadRequest(f"input shape {shape} does not match {self.input['shape']} "
                             f"(batch 1..{self.max_batch})")
        try:
            # Flat and nested data both flatten to the same row-major buffer.
            array = np.asarray(tensor.get("data"), dtype=self.dtype)
        except (TypeError, ValueError) as e:
            raise BadRequest(f"input data: {e}") from None
        if array.size != math.prod(shape):
            raise BadRequest(f"input data has {array.size} elements, shape {shape} needs "
                             f"{math.prod(shape)}")
        request["_array"] = array.reshape(shape)
        return request

    def infer(self, request: Dict[str, Any]) -> bytes:
        with torch.inference_mode():
            out = self.module(torch.from_numpy(request["_array"]))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        response: Dict[str, Any] = {"model_name": self.name, "model_version": "1"}
        if "id" in request:
            response["id"] = request["id"]
        response["outputs"] = [
            {"name": spec["name"], "datatype": spec["datatype"], "shape": list(t.shape),
             "data": t.reshape(-1).tolist()}
            for spec, t in zip(self.outputs, outs)]
        return json.dumps(response, separators=(",", ":")).encode()


def env(key: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + key, default)


app = FastAPI(title="ferry-peer", docs_url=None, redoc_url=None, openapi_url=None)
served: Optional[Served] = None


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@app.on_event("startup")
def load_model() -> None:
    global served
    served = Served(Path(env("MODEL_REPOSITORY", str(REPO_ROOT / "models"))),
                    env("MODEL", "fashion_cnn"), int(env("THREADS", "1")),
                    env("OPTIMIZE", "1") == "1", env("QUANTIZED_ENGINE", "onednn"))


@app.get("/v2/health/live")
async def live() -> Response:
    return Response(status_code=200)


@app.get("/v2/health/ready")
async def ready() -> Response:
    return Response(status_code=200 if served is not None else 503)


def known(name: str, version: Optional[str]) -> Optional[JSONResponse]:
    if served is None or name != served.name:
        return error(404, f"unknown model '{name}'")
    if version is not None and version != "1":
        return error(404, f"unknown version '{version}' of model '{name}'")
    return None


@app.get("/v2/models/{name}")
@app.get("/v2/models/{name}/versions/{version}")
async def metadata(name: str, version: Optional[str] = None) -> Response:
    return known(name, version) or JSONResponse(served.metadata)


@app.get("/v2/models/{name}/ready")
@app.get("/v2/models/{name}/versions/{version}/ready")
async def model_ready(name: str, version: Optional[str] = None) -> Response:
    return known(name, version) or Response(status_code=200)


@app.post("/v2/models/{name}/infer")
@app.post("/v2/models/{name}/versions/{version}/infer")
async def infer(name: str, request: Request, version: Optional[str] = None) -> Response:
    not_found = known(name, version)
    if not_found is not None:
        return not_found
    body = await request.body()
    try:
        parsed = served.parse(body)
    except BadRequest as e:
        return error(400, str(e))
    # The forward pass runs right here on the event loop: it is CPU-bound and
    # this process has nothing else to do meanwhile (more concurrency = more
    # workers). torch releases the GIL inside the forward.
    try:
        content = served.infer(parsed)
    except RuntimeError as e:
        return error(500, f"inference failed: {str(e).splitlines()[0] if str(e) else e}")
    return Response(content=content, media_type="application/json")


def has_uvloop() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-repository", type=Path, default=REPO_ROOT / "models")
    ap.add_argument("--model", default="fashion_cnn")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8100)
    ap.add_argument("--workers", type=int, default=1,
                    help="uvicorn worker processes, each with its own copy of the model")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads per worker")
    ap.add_argument("--no-optimize", action="store_true",
                    help="serve the plain module (skip torch.jit.freeze + optimize_for_inference)")
    ap.add_argument("--quantized-engine", default="onednn", choices=["onednn", "qnnpack"],
                    help="int8 kernels for quantized models (selected before loading)")
    ap.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"],
                    help="uvicorn HTTP parser (auto = httptools if installed)")
    ap.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"],
                    help="event loop (auto = uvloop if installed)")
    ap.add_argument("--access-log", action="store_true", help="log every request (off: it costs)")
    args = ap.parse_args(argv)

    folder = args.model_repository.resolve() / args.model
    if not (folder / "config.toml").is_file() or not (folder / "1" / "model.pt").is_file():
        ap.error(f"{folder}: needs config.toml and 1/model.pt")
    os.environ.update({
        ENV_PREFIX + "MODEL_REPOSITORY": str(args.model_repository.resolve()),
        ENV_PREFIX + "MODEL": args.model,
        ENV_PREFIX + "THREADS": str(args.threads),
        ENV_PREFIX + "OPTIMIZE": "0" if args.no_optimize else "1",
        ENV_PREFIX + "QUANTIZED_ENGINE": args.quantized_engine,
    })
    # Workers import this file as a module by name, so its folder must be importable.
    sys.path.insert(0, str(HERE))
    # Also keep torch's and the BLAS's own pools from oversubscribing in workers.
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import uvicorn
    if args.workers > 1 and (args.loop == "asyncio" or (args.loop == "auto" and not has_uvloop())):
        # uvicorn's multi-worker path binds the listener with proto 0, and asyncio
        # only sets TCP_NODELAY on accepted sockets whose proto is IPPROTO_TCP:
        # every keep-alive reply then waits ~40 ms for the client's delayed ACK
        # (uvicorn issue #3149). uvloop sets TCP_NODELAY regardless.
        print("fastapi_peer: warning: --workers > 1 on the asyncio loop leaves Nagle on "
              "(~40 ms per keep-alive request); install python3-uvloop or use --loop uvloop",
              file=sys.stderr, flush=True)
    uvicorn.run("fastapi_peer:app", host=args.host, port=args.port, workers=args.workers,
                http=args.http, loop=args.loop, log_level="warning",
                access_log=args.access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
