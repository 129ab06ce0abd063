"""What every benchmark measures with: processes' CPU time from /proc, the machine's own
load (to wait for quiet and to say how busy it was), percentiles, free ports and scratch
database URLs. Imported by the bench scripts (run as `python bench/<name>.py`)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HZ = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url.replace("postgresql://", "postgres://", 1))
    return urlunsplit(parts._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu(pid: int) -> float:
    """utime + stime of one process, in seconds; 0 if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = raw[raw.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / HZ


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    total = sum(values)
    idle = values[3] + values[4]
    return (total - idle) / HZ, total / HZ


def wait_for_quiet(max_wait: float, threshold: float = 20.0) -> float:
    """Wait (up to max_wait s) until other processes leave the machine mostly idle.

    Returns the machine's busy % over the last second looked at.
    """
    deadline = time.monotonic() + max_wait
    waited = False
    while True:
        busy0, total0 = machine_cpu()
        time.sleep(1.0)
        busy1, total1 = machine_cpu()
        busy = 100 * (busy1 - busy0) / max(total1 - total0, 1e-9)
        if busy < threshold or time.monotonic() >= deadline:
            if busy >= threshold:
                log(f"machine still {busy:.0f}% busy (other processes): measuring anyway")
            elif waited:
                log(f"machine {busy:.0f}% busy: go")
            return busy
        if not waited:
            log(f"machine {busy:.0f}% busy (other processes): waiting up to {max_wait:g} s")
            waited = True


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]
