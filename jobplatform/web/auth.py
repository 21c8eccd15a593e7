"""Who is calling (a bearer token), and whose jobs they may see."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request

from ..extensions import db
from ..jobs.counts import ALL_USERS, SYSTEM, user_scope
from ..users.models import User
from ..users.tokens import user_for_token
from .errors import Forbidden, NotFound, Unauthorized


def authenticate() -> None:
    """Set `g.user` from `Authorization: Bearer <token>`, or answer 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("Send your API token as 'Authorization: Bearer <token>'.")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    user = user_for_token(db.session, token.strip())
    if user is None:
        raise Unauthorized("That API token is not valid (unknown or revoked).")
    g.user = user


def current_user() -> User:
    return g.user


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


def scope_for(requested_user_id: int | None, include_system: bool = False) -> Scope:
    """The scope a caller asked for, or 403 if it is not theirs to see."""
    user = current_user()
    if include_system and not user.is_admin:
        raise Forbidden("Only operators may see system jobs (include_system).",
                        details=[{"field": "include_system", "problem": "admins only"}])
    if user.is_admin:
        return Scope(requested_user_id, include_system and requested_user_id is None)
    if requested_user_id is not None and requested_user_id != user.id:
        raise Forbidden("You may only see your own jobs.",
                        details=[{"field": "user_id", "problem": "names another user"}])
    return Scope(user.id)


def check_job_visible(job_user_id: int | None, job_id: str) -> None:
    """404 (not 403) for a job that is not the caller's, so ids of others' jobs leak nothing."""
    user = current_user()
    if not user.is_admin and job_user_id != user.id:
        raise NotFound(f"No job {job_id}.")
