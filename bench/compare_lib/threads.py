"""Where a server's CPU goes, split by thread role, from /proc/<pid>/task/*/stat.

Ferry names its threads (src/common/thread_name.h): `http-io-N` for the HTTP I/O
threads, `w:<model>:<version>` for a model's batch workers. Everything else (gRPC's
own threads, which keep the process name or get gRPC's names, and the main thread) is
"other". A snapshot before and after a load point, divided by the requests it served,
gives the CPU each role spent per request, in user and kernel time apart.
"""

import os
from pathlib import Path
from typing import Dict, Tuple

ROLES = ("http", "workers", "other")
ROLE_NAMES = {"http": "HTTP I/O threads", "workers": "batch workers",
              "other": "gRPC and other threads"}

# tid -> (thread name, user ticks, system ticks)
Snapshot = Dict[int, Tuple[str, int, int]]


def role(name: str) -> str:
    """The role of a thread, by the name Ferry gave it."""
    if name.startswith("http-io-"):
        return "http"
    if name.startswith("w:"):
        return "workers"
    return "other"


def parse_stat(text: str) -> Tuple[int, int]:
    """(utime, stime) in clock ticks from one /proc/.../stat line.

    The name field (2) is in parentheses and may hold spaces or ')', so the fields are
    counted from the last ')'. utime and stime are fields 14 and 15.
    """
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state), so field N is rest[N - 3].
    return int(rest[11]), int(rest[12])


def snapshot(pid: int, proc: Path = Path("/proc")) -> Snapshot:
    """Every thread of `pid` now; threads that exit while it reads are skipped."""
    shot: Snapshot = {}
    for task in (proc / str(pid) / "task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            user, system = parse_stat((task / "stat").read_text())
        except (OSError, ValueError):
            continue
        shot[int(task.name)] = (name, user, system)
    return shot


def split(before: Snapshot, after: Snapshot, requests: int,
          ticks_per_second: int = 0) -> Dict[str, Dict[str, float]]:
    """µs of CPU per request by role: {role: {"user": µs, "system": µs}}.

    A thread that started between the snapshots counts from zero; one that ended is lost
    (its CPU cannot be read any more), which Ferry's long-lived threads never do.
    """
    if requests <= 0:
        raise ValueError("requests must be positive")
    hz = ticks_per_second or os.sysconf("SC_CLK_TCK")
    out = {r: {"user": 0.0, "system": 0.0} for r in ROLES}
    for tid, (name, user, system) in after.items():
        _, user0, system0 = before.get(tid, (name, 0, 0))
        share = out[role(name)]
        share["user"] += (user - user0) * 1e6 / hz / requests
        share["system"] += (system - system0) * 1e6 / hz / requests
    return out
