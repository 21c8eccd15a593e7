"""Child processes whose life is tied to their parent's."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys
from collections.abc import Callable
from functools import cache

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@cache
def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGKILL the child when its parent dies, even by
    SIGKILL or the OOM killer, so that nothing a killed `jobplatform up` started lives on;
    None where the kernel has no such thing (not Linux). The kernel ties the child to the
    thread that started it: start long-lived children from a thread that outlives them."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return arm
