"""Who the command line acts as, and what it may see: the API's rules, for an operator.

By default the CLI is an operator (it runs where the store and broker are): it sees every
user's jobs and its actions are recorded as `cli:<OS user>`. `jobplatform --as EMAIL ...`
acts as that jobplatform user instead, recorded as `cli:<email>`, with that user's scope: an
agent sees only their own jobs, exactly as their API token would.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..extensions import db
from ..jobs.models import Job
from ..jobs.scope import Scope, ScopeRefused, may_see, resolve_scope
from ..users.models import User

AS_KEY = "jobplatform.as"


@dataclass(frozen=True)
class Operator:
    """The caller of a command: its actor string, and the user whose scope it has (if any)."""

    actor: str
    user_id: int | None = None
    is_admin: bool = True

    def scope(self, user_id: int | None = None, include_system: bool = False) -> Scope:
        """The jobs `--user`/`--system` select, or a one-line error if they are not ours."""
        try:
            return resolve_scope(
                caller_id=self.user_id,
                is_admin=self.is_admin,
                requested_user_id=user_id,
                include_system=include_system,
            )
        except ScopeRefused as exc:
            raise click.ClickException(f"{exc} (acting as {self.actor})") from None

    def job(self, session: Session, job_id: str) -> Job:
        """The job with this id if the caller may see it; else the API's 404, as one line."""
        try:
            uuid.UUID(job_id)
        except ValueError:
            raise click.ClickException(f"no job {job_id[:64]!r}: job ids are UUIDs") from None
        job = session.get(Job, job_id.lower())
        if job is None or not may_see(
            caller_id=self.user_id, is_admin=self.is_admin, job_user_id=job.user_id
        ):
            raise click.ClickException(f"no job {job_id}")
        return job

    def check_user(self, user_id: int) -> None:
        """A user's own things (integrations) are theirs and operators' only."""
        if not self.is_admin and user_id != self.user_id:
            raise click.ClickException(f"user {user_id} is not you (acting as {self.actor})")


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "unknown"


def current_operator() -> Operator:
    """The operator of this invocation, from the root group's `--as`."""
    ctx = click.get_current_context()
    email = ctx.find_root().meta.get(AS_KEY)
    if not email:
        return Operator(actor=f"cli:{os_user()}")
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"--as {email}: no such user ('users list' shows who exists)")
    return Operator(actor=f"cli:{user.email}", user_id=user.id, is_admin=user.is_admin)
