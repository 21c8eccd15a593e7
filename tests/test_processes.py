"""What `jobplatform up` starts dies with it and keeps out of its terminal's Ctrl-C: the
embedded Redis (and every supervised child) in a session of its own, tied to its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from tests.support import wait_for

PARENT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from jobplatform.embedded import EmbeddedRedis
    from jobplatform.supervisor import Supervisor

    redis = EmbeddedRedis(Path(sys.argv[1]), persistent=False)
    redis.start()
    child = Supervisor({}).start("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"])
    print(redis.process.pid, child.process.pid, flush=True)
    time.sleep(600)
""")


def test_a_killed_parent_leaves_no_redis_or_child_behind(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2, "the parent did not start its children"
        for pid in pids:  # out of the parent's session: a terminal's Ctrl-C is the parent's
            assert os.getsid(pid) != os.getsid(parent.pid)

        parent.send_signal(signal.SIGKILL)  # no chance to stop anything itself
        parent.wait(timeout=10)

        def gone() -> bool:
            return not any(psutil.pid_exists(pid) and psutil.Process(pid).status()
                           != psutil.STATUS_ZOMBIE for pid in pids)

        wait_for(gone, timeout=10, message="the children to die with their parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()


def test_a_child_that_keeps_exiting_is_restarted_then_given_up_on(tmp_path: Path) -> None:
    import io
    import threading

    from jobplatform.supervisor import RESTART_LIMIT, Supervisor

    out = io.StringIO()
    supervisor = Supervisor({}, log_dir=tmp_path, out=out)
    crashing = supervisor.start("crashing", [sys.executable, "-c", "print('boom'); exit(3)"])
    steady = supervisor.start("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        given_up = supervisor.watch(threading.Event(), poll_seconds=0.05)
        assert given_up is crashing
        assert out.getvalue().count("crashing exited (code 3); starting it again") == (
            RESTART_LIMIT - 1)
        assert crashing.last_lines() == ["boom"] * RESTART_LIMIT
        assert steady.running  # the others ran on meanwhile
    finally:
        supervisor.stop_all()
