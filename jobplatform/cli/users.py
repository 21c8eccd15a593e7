"""`jobplatform users ...`: create users and their API tokens, and list them."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from ..database import begin_write
from ..extensions import db
from ..jobs.counts import jobs_by_user
from ..users.models import User
from ..users.tokens import create_user, issue_token
from ..web.schemas import UserOut
from .group import OrderedGroup
from .operator import current_operator
from .output import console, print_json


@click.group(cls=OrderedGroup)
def users() -> None:
    """Manage API users and tokens."""


def _operators_only(what: str) -> None:
    operator = current_operator()
    if not operator.is_admin:
        raise click.ClickException(f"only operators may {what} (acting as {operator.actor})")


@users.command("create")
@click.argument("email")
@click.option("--name", help="How the user is shown.")
@click.option("--admin", is_flag=True, help="An operator: sees and acts on every user's jobs.")
@with_appcontext
def create(email: str, name: str | None, admin: bool) -> None:
    """Create a user and print their API token (shown this once only)."""
    _operators_only("create users")
    if "@" not in email or len(email) > 320:
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="EMAIL")
    begin_write(db.session)  # the check and the insert in one write transaction
    if db.session.scalar(sa.select(User.id).where(User.email == email.strip().lower())):
        raise click.ClickException(
            f"a user {email} already exists; use 'users token' for a new token"
        )
    user = create_user(db.session, email, name=name, admin=admin)
    token = issue_token(db.session, user)
    db.session.commit()
    role = "admin" if admin else "user"
    click.echo(f"created {role} {user.email} (id {user.id}); API token, shown only now:", err=True)
    click.echo(token)


@users.command("token")
@click.argument("email")
@with_appcontext
def token(email: str) -> None:
    """Issue another API token for an existing user (shown this once only)."""
    _operators_only("issue tokens")
    begin_write(db.session)
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user {email}")
    value = issue_token(db.session, user)
    db.session.commit()
    click.echo(value)


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="The API's GET /users JSON (for scripts).")
@with_appcontext
def list_users(as_json: bool) -> None:
    """Every user: id, role, email, name, and their jobs by status."""
    _operators_only("list users")
    found = list(db.session.scalars(sa.select(User).order_by(User.id)))
    counts = jobs_by_user(db.session, [u.id for u in found])
    listed = [
        UserOut(
            id=u.id,
            email=u.email,
            name=u.name,
            is_admin=u.is_admin,
            created_at=u.created_at,
            jobs=counts[u.id],
        )
        for u in found
    ]
    if as_json:
        print_json({"users": [u.model_dump(mode="json") for u in listed], "next_cursor": None})
        return
    from rich.table import Table

    table = Table()
    for column in (
        "id",
        "role",
        "email",
        "name",
        "pending",
        "processing",
        "complete",
        "error",
        "cancelled",
    ):
        table.add_column(
            column, justify="right" if column not in ("role", "email", "name") else "left"
        )
    for user in listed:
        jobs = user.jobs.model_dump()
        table.add_row(
            str(user.id),
            "admin" if user.is_admin else "user",
            user.email,
            user.name or "",
            *(f"{jobs[s]:,}" for s in ("pending", "processing", "complete", "error", "cancelled")),
        )
    console().print(table)
