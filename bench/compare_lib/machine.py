"""What the numbers were measured on: CPU, memory, OS, library versions, git revision and
the load on the machine around the run."""

import os
import re
import subprocess
from pathlib import Path


def sh(cmd: str) -> str:
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception:
        return ""


def loadavg() -> list:
    return Path("/proc/loadavg").read_text().split()[:3]


def cpu_ticks() -> list:
    """The machine-wide CPU counters of /proc/stat (user nice system idle iowait irq
    softirq steal ...), in clock ticks since boot."""
    return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def steal_share(start: list, end: list) -> float:
    """Share of all CPU time between two cpu_ticks() readings that the hypervisor gave to
    other guests (steal, the 8th field): time this machine's cores were not running at
    all, which the load average does not show."""
    deltas = [b - a for a, b in zip(start, end)]
    total = sum(deltas[:8])
    return deltas[7] / total if len(deltas) >= 8 and total > 0 else 0.0


def describe(build: Path) -> dict:
    """The machine, the libraries and the git revision; `build` is the folder whose `ferry`
    is measured."""
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    python_versions = sh("/usr/bin/python3 -c 'import fastapi, uvicorn, torch; "
                         "print(fastapi.__version__, uvicorn.__version__, torch.__version__)'")
    fastapi, uvicorn, torch_py = (python_versions.split() + ["?", "?", "?"])[:3]
    ferry_libs = sh(f"ldd '{build / 'ferry'}' 2>/dev/null")  # the libraries it loads
    return {
        "cpu": sh("lscpu | sed -n 's/^Model name:[ \\t]*//p'") or "unknown",
        "cores": int(sh("nproc") or 1),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
        "debian": sh("cat /etc/debian_version"),
        "kernel": sh("uname -r"),
        "libtorch": sh("dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null"),
        "openblas": sh("dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null"),
        "blis": sh("dpkg-query -W -f='${Version}' libblis4-serial 2>/dev/null"),
        # Ferry links BLIS only when built with -DFERRY_BLIS=ON; the peer's PyTorch uses the
        # system BLAS (OpenBLAS).
        "ferry_blis": "libblis" in ferry_libs,
        # tcmalloc unless built with -DFERRY_TCMALLOC=OFF; the peer's Python uses glibc's.
        "ferry_tcmalloc": "libtcmalloc" in ferry_libs,
        "tcmalloc": sh("dpkg-query -W -f='${Version}' libtcmalloc-minimal4 2>/dev/null"),
        "grpc": sh("dpkg-query -W -f='${Version}' libgrpc++-dev 2>/dev/null"),
        "peer": f"FastAPI {fastapi}, uvicorn {uvicorn}, PyTorch {torch_py} (Debian python3-*)",
        "uvloop": bool(sh("/usr/bin/python3 -c 'import uvloop, httptools; print(1)'")),
        "git": sh("git rev-parse --short HEAD 2>/dev/null") or "no commit",
        "dirty": bool(sh("git status --porcelain --untracked-files=no 2>/dev/null")),
        "build_dir": os.environ.get("BUILD_DIR", "build"),
    }
