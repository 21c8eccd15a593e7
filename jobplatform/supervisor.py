"""Starts, watches and stops the processes of a one-machine platform (`jobplatform up`)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .processes import die_with_parent

log = logging.getLogger(__name__)

#: How many of a child's last lines are kept, to show when it dies.
TAIL_LINES = 20
#: A child that exits on its own is started again (a worker the OOM killer took, a crash),
#: unless it exited this many times within the window: then it keeps failing, and `up` stops.
RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 300.0


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    #: Seconds to wait after the stop signal before killing; a worker finishes running jobs.
    stop_timeout: float = 20.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict, repr=False)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES), repr=False)
    #: When it exited on its own, within the restart window.
    exits: list[float] = field(default_factory=list, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def last_lines(self) -> list[str]:
        """The end of what the child wrote: from its log file, or the lines kept in memory."""
        if self.log_path is None:
            return list(self.tail)
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(max(0, fh.seek(0, os.SEEK_END) - 8192))
                text = fh.read().decode(errors="replace")
        except OSError:
            return []
        return text.splitlines()[-TAIL_LINES:]


class Supervisor:
    """Children run in their own sessions, so Ctrl-C reaches only the supervisor, which then
    stops them in reverse order of starting: the web first, the applier last, so it applies
    the transitions of the jobs the worker finished while shutting down. Each child dies with
    the supervisor even if it is SIGKILLed (see processes.py). A child that exits on its own
    is started again, unless it keeps exiting (`RESTART_LIMIT`).

    A child's output goes to `<log_dir>/<name>.log` when a log folder is given; otherwise
    each line is copied to the terminal behind its process's name, as honcho does."""

    def __init__(
        self, env: Mapping[str, str], *, log_dir: Path | None = None, out: IO[str] | None = None
    ) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.out = out or sys.stdout
        self.children: list[Child] = []
        self._write_lock = threading.Lock()
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        stop_timeout: float = 20.0,
        env: Mapping[str, str] | None = None,
    ) -> Child:
        """Start `argv` with the shared environment, plus `env` for this child alone."""
        child = Child(name, list(argv), stop_timeout)
        child.env = {**self.env, **(env or {})}
        if self.log_dir is not None:
            child.log_path = self.log_dir / f"{name}.log"
        self.children.append(child)
        self._launch(child)
        return child

    def _launch(self, child: Child) -> None:
        if child.log_path is not None:
            with child.log_path.open("ab") as log_file:
                child.process = self._spawn(child, stdout=log_file)
        else:
            child.process = self._spawn(child, stdout=subprocess.PIPE)
            threading.Thread(
                target=self._copy_lines, args=(child,), daemon=True,
                name=f"output of {child.name}",
            ).start()
        log.info("started %s (pid %s)", child.name, child.process.pid)

    def _spawn(self, child: Child, *, stdout: int | IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            child.argv,
            env=child.env,
            start_new_session=True,
            preexec_fn=die_with_parent(),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )

    def _copy_lines(self, child: Child) -> None:
        stdout = child.process.stdout if child.process else None
        if stdout is None:
            return
        width = max([len(c.name) for c in self.children] + [len(child.name), 7])
        for raw in stdout:
            line = raw.decode(errors="replace").rstrip()
            child.tail.append(line)
            with self._write_lock:
                self.out.write(f"{child.name:<{width}} | {line}\n")
                self.out.flush()

    def watch(self, stop: threading.Event, poll_seconds: float = 0.5) -> Child | None:
        """Wait until `stop` is set (None), starting again each child that exits on its own;
        a child that exited `RESTART_LIMIT` times within the window is returned instead."""
        while not stop.wait(poll_seconds):
            for child in self.children:
                if child.running:
                    continue
                now = time.monotonic()
                child.exits = [at for at in child.exits if now - at < RESTART_WINDOW_SECONDS]
                child.exits.append(now)
                if len(child.exits) >= RESTART_LIMIT:
                    return child
                code = child.process.returncode if child.process else None
                self._say(f"{child.name} exited (code {code}); starting it again "
                          f"({len(child.exits)} of {RESTART_LIMIT - 1} restarts in "
                          f"{RESTART_WINDOW_SECONDS / 60:.0f} min)")
                self._launch(child)
        return None

    def _say(self, line: str) -> None:
        """A line for whoever watches `up` (its terminal), beside the children's output."""
        with self._write_lock:
            self.out.write(f"{line}\n")
            self.out.flush()

    def stop_all(self) -> None:
        for child in reversed(self.children):
            self._stop(child)
        self.children.clear()

    def _stop(self, child: Child) -> None:
        process = child.process
        if process is None or process.poll() is not None:
            return
        log.info("stopping %s", child.name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=child.stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %ss; killing it", child.name, child.stop_timeout)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
