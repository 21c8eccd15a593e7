"""Reading a provider's records: one that does not have the documented shape is the
provider's error, said as such, not a TypeError from deep in a sync."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ..integrations.errors import MalformedAnswer

P = ParamSpec("P")
R = TypeVar("R")

#: What reading a record of the wrong shape raises: a missing field, a value of another type.
SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


def documented_shape(provider: str, label: str, what: str) -> Callable[[Callable[P, R]],
                                                                         Callable[P, R]]:
    """Make a record reader raise MalformedAnswer ("FUB sent people that do not have the
    documented shape") for a record it cannot read. Only the kind of error is kept: the
    values of a broken record are the provider's data, not a message."""

    def decorate(read: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(read)
        def reader(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return read(*args, **kwargs)
            except SHAPE_ERRORS as exc:
                raise MalformedAnswer(
                    provider, 200, what,
                    f"{label} sent {what} that do not have the documented shape "
                    f"({type(exc).__name__} reading one); the sync stopped there and can "
                    "run again once the provider answers properly",
                ) from None

        return reader

    return decorate
