"""Who is calling (a bearer token), and whose jobs they may see."""

from __future__ import annotations

from flask import g, request

from ..extensions import db
from ..jobs.scope import Scope, ScopeRefused, may_see, resolve_scope
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


def scope_for(requested_user_id: int | None, include_system: bool = False) -> Scope:
    """The scope a caller asked for, or 403 if it is not theirs to see."""
    user = current_user()
    try:
        return resolve_scope(caller_id=user.id, is_admin=user.is_admin,
                             requested_user_id=requested_user_id, include_system=include_system)
    except ScopeRefused as exc:
        raise Forbidden(str(exc), details=[{"field": exc.field, "problem": exc.problem}]) from None


def check_job_visible(job_user_id: int | None, job_id: str) -> None:
    """404 (not 403) for a job that is not the caller's, so ids of others' jobs leak nothing."""
    user = current_user()
    if not may_see(caller_id=user.id, is_admin=user.is_admin, job_user_id=job_user_id):
        raise NotFound(f"No job {job_id}.")
