"""A small ctypes binding to libxgboost's C API, enough to train and check a booster.

Why not Debian's python3-xgboost: it depends on python3-scipy, whose python3-pythran
dependency pulls libboost-dev (1.74), and that conflicts with the libboost1.81-dev Ferry
builds against, so apt refuses to install it next to Ferry's build dependencies. The
xgboost Python package is itself a ctypes wrapper around this same library, so training
through it directly gives the same trees, from the very libxgboost (1.7.4, package
libxgboost0) that the server links.
"""

import ctypes
import ctypes.util
import json
from typing import List, Optional, Tuple

import numpy as np

_bst_ulong = ctypes.c_uint64
_handle = ctypes.c_void_p


class XGBoostError(RuntimeError):
    pass


def _load_library() -> ctypes.CDLL:
    for name in ("libxgboost.so.0", ctypes.util.find_library("xgboost") or "", "libxgboost.so"):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise SystemExit("libxgboost not found: install Debian's libxgboost0 (or libxgboost-dev)")


_LIB: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        _LIB = _load_library()
        _LIB.XGBGetLastError.restype = ctypes.c_char_p
    return _LIB


def _check(rc: int) -> None:
    if rc != 0:
        raise XGBoostError(lib().XGBGetLastError().decode("utf-8", "replace"))


def version() -> str:
    major, minor, patch = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    lib().XGBoostVersion(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(patch))
    return f"{major.value}.{minor.value}.{patch.value}"


def set_global_config(**kwargs) -> None:
    _check(lib().XGBSetGlobalConfig(ctypes.c_char_p(json.dumps(kwargs).encode())))


class DMatrix:
    """Dense float32 rows. NaN is the missing value, so zero pixels stay real values."""

    def __init__(self, x: np.ndarray, labels: Optional[np.ndarray] = None, nthread: int = 1):
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(x.shape[0], -1)
        self.rows, self.cols = x.shape
        self.handle = _handle()
        _check(lib().XGDMatrixCreateFromMat_omp(
            x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), _bst_ulong(self.rows),
            _bst_ulong(self.cols), ctypes.c_float(float("nan")), ctypes.byref(self.handle),
            ctypes.c_int(nthread)))
        if labels is not None:
            y = np.ascontiguousarray(labels, dtype=np.float32)
            _check(lib().XGDMatrixSetFloatInfo(
                self.handle, b"label", y.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                _bst_ulong(y.shape[0])))

    def __del__(self):
        if getattr(self, "handle", None) and _LIB is not None:
            _LIB.XGDMatrixFree(self.handle)


class Booster:
    def __init__(self, cache: List[DMatrix] = (), params: Optional[dict] = None):
        self._cache = list(cache)  # the booster refers to these matrices; keep them alive
        handles = (_handle * len(self._cache))(*[d.handle for d in self._cache])
        self.handle = _handle()
        _check(lib().XGBoosterCreate(handles, _bst_ulong(len(self._cache)),
                                     ctypes.byref(self.handle)))
        for key, value in (params or {}).items():
            # A list sets the key once per value (eval_metric accumulates).
            for v in value if isinstance(value, list) else [value]:
                self.set_param(key, v)

    def __del__(self):
        if getattr(self, "handle", None) and _LIB is not None:
            _LIB.XGBoosterFree(self.handle)

    def set_param(self, key: str, value) -> None:
        _check(lib().XGBoosterSetParam(self.handle, key.encode(), str(value).encode()))

    def update(self, iteration: int, dtrain: DMatrix) -> None:
        _check(lib().XGBoosterUpdateOneIter(self.handle, ctypes.c_int(iteration), dtrain.handle))

    def eval(self, iteration: int, mats: List[Tuple[DMatrix, str]]) -> str:
        handles = (_handle * len(mats))(*[m.handle for m, _ in mats])
        names = (ctypes.c_char_p * len(mats))(*[n.encode() for _, n in mats])
        out = ctypes.c_char_p()
        _check(lib().XGBoosterEvalOneIter(self.handle, ctypes.c_int(iteration), handles, names,
                                          _bst_ulong(len(mats)), ctypes.byref(out)))
        return out.value.decode()

    def predict(self, dmat: DMatrix, margin: bool) -> np.ndarray:
        """[rows, groups] float32: margins, or the objective's transformed values."""
        config = json.dumps({"type": 1 if margin else 0, "training": False,
                             "iteration_begin": 0, "iteration_end": 0, "strict_shape": True})
        shape_p = ctypes.POINTER(_bst_ulong)()
        dim = _bst_ulong()
        result = ctypes.POINTER(ctypes.c_float)()
        _check(lib().XGBoosterPredictFromDMatrix(
            self.handle, dmat.handle, config.encode(), ctypes.byref(shape_p), ctypes.byref(dim),
            ctypes.byref(result)))
        shape = tuple(shape_p[i] for i in range(dim.value))
        # The result lives in XGBoost's thread-local buffer: copy it out before the next call.
        return np.ctypeslib.as_array(result, shape=shape).copy()

    def save(self, path: str) -> None:
        _check(lib().XGBoosterSaveModel(self.handle, path.encode()))

    def load(self, path: str) -> None:
        _check(lib().XGBoosterLoadModel(self.handle, path.encode()))

    def num_features(self) -> int:
        out = _bst_ulong()
        _check(lib().XGBoosterGetNumFeature(self.handle, ctypes.byref(out)))
        return out.value

    def boosted_rounds(self) -> int:
        out = ctypes.c_int()
        _check(lib().XGBoosterBoostedRounds(self.handle, ctypes.byref(out)))
        return out.value

    def config(self) -> dict:
        length = _bst_ulong()
        out = ctypes.c_char_p()
        _check(lib().XGBoosterSaveJsonConfig(self.handle, ctypes.byref(length), ctypes.byref(out)))
        return json.loads(out.value.decode())
