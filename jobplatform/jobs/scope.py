"""Whose jobs a caller may see: one rule for the API (a token's user) and the CLI (an operator,
or the user named with `--as`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import JobPlatformError
from .counts import ALL_USERS, SYSTEM, user_scope


class ScopeRefused(JobPlatformError):
    """The caller asked for jobs that are not theirs to see; `field` names what they gave."""

    def __init__(self, message: str, *, field: str, problem: str) -> None:
        super().__init__(message)
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Scope:
    """The jobs a request covers: one user's, or (admins) every user's, maybe system jobs too."""

    user_id: int | None
    include_system: bool = False

    @property
    def counter_scopes(self) -> list[str]:
        if self.user_id is not None:
            return [user_scope(self.user_id)]
        return [ALL_USERS, SYSTEM] if self.include_system else [ALL_USERS]


def resolve_scope(
    *,
    caller_id: int | None,
    is_admin: bool,
    requested_user_id: int | None,
    include_system: bool = False,
) -> Scope:
    """The scope a caller asked for; ScopeRefused if it is not theirs to see."""
    if include_system and not is_admin:
        raise ScopeRefused(
            "Only operators may see system jobs (include_system).",
            field="include_system",
            problem="admins only",
        )
    if is_admin:
        return Scope(requested_user_id, include_system and requested_user_id is None)
    if requested_user_id is not None and requested_user_id != caller_id:
        raise ScopeRefused(
            "You may only see your own jobs.", field="user_id", problem="names another user"
        )
    return Scope(caller_id)


def may_see(*, caller_id: int | None, is_admin: bool, job_user_id: int | None) -> bool:
    """Whether the caller may see a job of `job_user_id` (admins: every job)."""
    return is_admin or job_user_id == caller_id
