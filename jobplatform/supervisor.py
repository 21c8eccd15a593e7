"""Starts, watches and stops the processes of a one-machine platform (`jobplatform up`)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .processes import die_with_parent

log = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    #: Seconds to wait after the stop signal before killing; a worker finishes running jobs.
    stop_timeout: float = 20.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Children run in their own sessions, so Ctrl-C reaches only the supervisor, which then
    stops them in reverse order of starting: the web first, the applier last, so it applies
    the transitions of the jobs the worker finished while shutting down."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], *, stop_timeout: float = 20.0) -> Child:
        child = Child(name, list(argv), stop_timeout)
        child.process = subprocess.Popen(child.argv, env=self.env, start_new_session=True,
                                         preexec_fn=die_with_parent())
        self.children.append(child)
        log.info("started %s (pid %s)", name, child.process.pid)
        return child

    def watch(self, stop: threading.Event, poll_seconds: float = 0.5) -> Child | None:
        """Wait until `stop` is set (None) or a child exits on its own (that child)."""
        while not stop.wait(poll_seconds):
            for child in self.children:
                if not child.running:
                    return child
        return None

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
