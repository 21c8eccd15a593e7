"""Fetching the next page while the caller stores this one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(pages: Iterator[T],
               in_context: Callable[[Callable[[], None]], Callable[[], None]] = lambda f: f,
               ) -> Iterator[T]:
    """Yield from `pages`, with the next page already being fetched in a thread (run through
    `in_context`, e.g. a job's, so what the fetching logs is the job's).

    Requests stay one at a time (so pacing holds); the wait for the provider overlaps the
    caller's work on the previous page. At most one page is fetched beyond what the caller
    took, and none once the caller stops iterating; errors surface in the caller, in order.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        ready.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as exc:  # handed to the caller, who decides
            ready.put(exc)

    thread = threading.Thread(target=in_context(fetch), name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=30)
