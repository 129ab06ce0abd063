"""What every benchmark measures with: processes' CPU time from /proc, the machine's own
load (to wait for quiet and to say how busy it was), percentiles, free ports and scratch
database URLs; and the plumbing the HTTP benchmarks share: a uvicorn server in its own
session, children run to completion with their rusage, PostgreSQL backends' CPU, py-spy
recordings and their summaries. Imported by the bench scripts (run as
`python bench/<name>.py`)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HZ = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


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


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def load_average() -> str:
    """The 1/5/15-minute load averages, as `uptime` prints them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_child(cmd: list[str], env: dict[str, str], out_path: Path) -> tuple[int, str, Any]:
    """Run to completion; (exit code, stdout+stderr, rusage of that child)."""
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
    return code, out_path.read_text(errors="replace"), rusage


class UvicornServer:
    """`python -m uvicorn --factory APP` in a session of its own (stopped as a group).

    With one worker uvicorn serves in its own process; with more, its children do.
    """

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        workdir: Path,
        *,
        workers: int = 1,
        name: str = "uvicorn",
    ) -> None:
        self.app = app
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, health_path: str = "/health") -> None:
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory", self.app,
            "--workers", str(self.workers), "--host", "127.0.0.1", "--port", str(self.port),
            "--no-access-log", "--log-level", "info",
        ]  # fmt: skip
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"uvicorn exited:\n{self.log_path.read_text()[-3000:]}")
            started = self.log_path.read_text().count("Application startup complete")
            if started >= self.workers and self._healthy(health_path):
                return
            time.sleep(0.2)
        raise SystemExit(f"uvicorn did not start:\n{self.log_path.read_text()[-3000:]}")

    def _healthy(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        """The processes that serve requests."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        # uvicorn's workers are the master's children that run Python (not helpers).
        return [p for p in descendants(self.proc.pid) if self._is_python(p)]

    @staticmethod
    def _is_python(pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        # multiprocessing's resource tracker is a child too; it serves no requests.
        return b"python" in cmdline and b"resource_tracker" not in cmdline

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)  # our own session, started above
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class PgCpu(threading.Thread):
    """CPU used by the PostgreSQL backends of our database, and the WAL writer.

    Backends are found by their process title ("postgres: user <db> ..."), sampled every
    0.2 s so connections that come and go within the run (pgbench's) are counted too, up
    to their last sample. Backends of other databases (other people's test runs) are left
    out. A hint, not an accounting.
    """

    def __init__(self, dbname: str) -> None:
        super().__init__(daemon=True)
        self.dbname = dbname
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stopping = threading.Event()

    def _pids(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres:") and (
                f" {self.dbname} ".encode() in title or b"walwriter" in title
            ):
                found.append(int(entry.name))
        return found

    def _sample(self) -> None:
        for pid in self._pids():
            cpu = proc_cpu(pid)
            self.base.setdefault(pid, 0.0)  # appeared during the run: all of it counts
            if cpu:
                self.last[pid] = cpu

    def begin(self) -> None:
        self.base = {pid: proc_cpu(pid) for pid in self._pids()}
        self.last = dict(self.base)
        self.start()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            self._sample()

    def end(self) -> float:
        self.stopping.set()
        self.join()
        self._sample()
        return sum(max(0.0, self.last.get(p, b) - b) for p, b in self.base.items())


# ---------------------------------------------------------------------------- SQL


async def request_statements(
    db_url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    ok: str,
    what: str,
    captured: dict[str, Any] | None = None,
) -> list[str]:
    """The SQL one GraphQL request makes, captured in-process from Tortoise's query log.

    The request is sent twice (the first warms caches; `captured`, when given, is the
    body of the second), in-process through the engine's app; both must answer with `ok`
    in the body, else the benchmark stops before any load.
    """
    import httpx
    from tortoise import Tortoise

    from core.settings import load_settings, tortoise_config
    from engine.app import create_app

    statements: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = str(record.msg % record.args if record.args else record.msg)
            if not text.startswith(("Created connection pool", "Closed connection pool")):
                statements.append(text)

    await Tortoise.init(config=tortoise_config(db_url, 2), _enable_global_fallback=True)
    try:
        app = create_app(load_settings(), init_orm=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            first = await client.post("/graphql", json=body, headers=headers)  # warm caches
            if ok not in first.text:
                raise SystemExit(f"{what} failed during setup: {first.text[:2000]}")
            sql_log = logging.getLogger("tortoise.db_client")
            handler = Capture(level=logging.DEBUG)
            old_level = sql_log.level
            sql_log.addHandler(handler)
            sql_log.setLevel(logging.DEBUG)
            try:
                second = await client.post("/graphql", json=captured or body, headers=headers)
            finally:
                sql_log.removeHandler(handler)
                sql_log.setLevel(old_level)
            if ok not in second.text:
                raise SystemExit(f"{what} failed during setup: {second.text[:2000]}")
    finally:
        await Tortoise.close_connections()
    return [re.sub(r"\s+", " ", s.split(": [", 1)[0]) for s in statements]


def signature(statement: str) -> str:
    """'SELECT member', 'INSERT ledger_entry', 'SELECT point_account FOR UPDATE', ..."""
    text = statement.strip()
    verb = text.split(None, 1)[0].upper() if text else "?"
    if verb in ("BEGIN;", "COMMIT;", "BEGIN", "COMMIT"):
        return verb.rstrip(";")
    # the first table named (past a FROM of a subquery or VALUES, a JOIN's)
    match = re.search(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+"?(\w+)"?', text, re.I)
    table = match.group(1) if match else "?"
    return f"{verb} {table}" + (" FOR UPDATE" if "FOR UPDATE" in text.upper() else "")


# ---------------------------------------------------------------------------- py-spy

PySpyRun = list[tuple[subprocess.Popen[bytes], Path]]

# Buckets a sample falls in: the innermost frame on the stack that matches a rule decides.
PROFILE_BUCKETS = [
    ("asyncpg protocol / driver", ("asyncpg/",)),
    ("tortoise: build query / SQL text", ("pypika", "tortoise/queryset.py", "tortoise/query_utils", "tortoise/expressions")),
    ("tortoise: model init / rows -> objects", ("tortoise/models.py", "tortoise/backends/base/executor.py", "tortoise/fields")),
    ("graphql-core execute / strawberry", ("graphql/execution", "strawberry/")),
    ("graphql-core parse / validate", ("graphql/language", "graphql/validation")),
    ("starlette / uvicorn / httptools", ("starlette/", "uvicorn/", "httptools")),
    ("engine code (models/, resolvers/, core/)", ("models/", "resolvers/", "core/", "schema/", "engine/")),
    ("asyncio event loop", ("asyncio/", "uvloop")),
]  # fmt: skip

# Frames worth listing by inclusive time: the engine's own code and the libraries it drives.
ENGINE_FRAMES = ("(models/", "(resolvers/", "(core/", "(schema/", "(engine/", "(tortoise/", "(asyncpg/")  # fmt: skip


def start_py_spy(pids: list[int], seconds: float, outdir: Path, tag: str) -> PySpyRun:
    """`py-spy record --nonblocking` each process for `seconds`; raw stacks go to outdir."""
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when not activated
    py_spy = shutil.which("py-spy") or (str(beside) if beside.exists() else None)
    if py_spy is None:
        log("py-spy not found (pip install py-spy): no profile")
        return []
    outdir.mkdir(parents=True, exist_ok=True)
    running: PySpyRun = []
    for pid in pids:
        out = outdir / f"{tag}-{pid}.txt"
        cmd = [
            py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
            "--rate", "200", "--nonblocking", "--format", "raw", "--output", str(out),
        ]  # fmt: skip
        running.append(
            (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), out)
        )
    return running


def collect_py_spy(running: PySpyRun, timeout: float) -> Counter[str]:
    """Wait for the recorders; the stacks they wrote ("frame;frame;... count" lines)."""
    stacks: Counter[str] = Counter()
    for proc, out in running:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)
        if out.exists():
            for line in out.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if count.isdigit():
                    stacks[stack] += int(count)
    return stacks


def short_path(frame: str) -> str:
    """ "(path)" of a py-spy frame, without the site-packages / repository prefix."""
    match = re.search(r"\(([^)]*)\)", frame)
    if not match:
        return ""
    path = match.group(1)
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"({path})"


def frame_name(frame: str) -> str:
    """ "function (short/path.py)" of a py-spy frame (line numbers dropped)."""
    return frame.split(" (")[0] + " " + re.sub(r":\d+\)$", ")", short_path(frame))


def profile_tables(
    stacks: Counter[str],
    top: int = 15,
    interesting: tuple[str, ...] = ENGINE_FRAMES,
    ms_per_unit: float | None = None,
    unit: str = "request",
) -> list[str]:
    """Buckets by innermost library, inclusive time of `interesting` frames (top N) and
    self time (top N), as lines. With ms_per_unit (the process' CPU per request), each
    share is also shown as ~ms of that CPU."""
    total = sum(stacks.values()) or 1
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = [f for f in stack.split(";") if f]
        seen = set()
        for frame in frames:
            name = frame_name(frame)
            if name not in seen:
                inclusive[name] += count
                seen.add(name)
        if frames:
            self_time[frame_name(frames[-1])] += count
        bucket = "other"
        for frame in reversed(frames):
            hit = next((b for b, pats in PROFILE_BUCKETS if any(p in frame for p in pats)), None)
            if hit:
                bucket = hit
                break
        buckets[bucket] += count

    def row(count: int, name: str) -> str:
        share = count / total
        ms = f"  {share * ms_per_unit:5.2f} ms" if ms_per_unit is not None else ""
        return f"  {100 * share:5.1f}%{ms}  {name}"

    per = f" (share of samples, ~ms of CPU per {unit})" if ms_per_unit is not None else ""
    lines = [f"time by innermost library on the stack{per}:"]
    lines += [row(count, name) for name, count in buckets.most_common()]
    lines += ["", f"inclusive time, engine code, Tortoise and asyncpg functions (top {top}):"]
    chosen = [(n, c) for n, c in inclusive.most_common() if any(p in n for p in interesting)]
    lines += [row(count, name) for name, count in chosen[:top]]
    lines += ["", f"self time (top {top}):"]
    lines += [row(count, name) for name, count in self_time.most_common(top)]
    return lines


def _frame_is(frame: str, func: str, path: str) -> bool:
    name = frame.split(" (", 1)[0]
    return (not func or name == func or name.endswith("." + func)) and path in frame


def path_breakdown(
    stacks: Counter[str], rows: list[tuple[str | None, str, str]], ms_per_unit: float
) -> list[str]:
    """Inclusive share of each (label, function name, file fragment) row, as lines with ~ms
    of CPU per unit; an empty function name matches any function of the file fragment; a
    row whose label is None prints "across all of the above:"."""
    total = sum(stacks.values()) or 1
    hits: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = stack.split(";")
        for label, func, path in rows:
            if label and any(_frame_is(f, func, path) for f in frames):
                hits[label] += count
    lines = []
    for label, _, _ in rows:
        if label is None:
            lines.append("  across all of the above:")
            continue
        share = hits[label] / total
        lines.append(f"  {100 * share:5.1f}%  {share * ms_per_unit:5.2f} ms  {label}")
    return lines
