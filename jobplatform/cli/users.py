"""`jobplatform users ...`: create users and their API tokens."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from ..database import begin_write
from ..extensions import db
from ..users.models import User
from ..users.tokens import create_user, issue_token


@click.group()
def users() -> None:
    """Manage API users and tokens."""


@users.command("create")
@click.argument("email")
@click.option("--name", help="How the user is shown.")
@click.option("--admin", is_flag=True, help="An operator: sees and acts on every user's jobs.")
@with_appcontext
def create(email: str, name: str | None, admin: bool) -> None:
    """Create a user and print their API token (shown this once only)."""
    if "@" not in email or len(email) > 320:
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="EMAIL")
    begin_write(db.session)  # the check and the insert in one write transaction
    if db.session.scalar(sa.select(User.id).where(User.email == email.strip().lower())):
        raise click.ClickException(f"a user {email} already exists; use 'users token' for a "
                                   "new token")
    user = create_user(db.session, email, name=name, admin=admin)
    token = issue_token(db.session, user)
    db.session.commit()
    role = "admin" if admin else "user"
    click.echo(f"created {role} {user.email} (id {user.id}); API token, shown only now:",
               err=True)
    click.echo(token)


@users.command("token")
@click.argument("email")
@with_appcontext
def token(email: str) -> None:
    """Issue another API token for an existing user (shown this once only)."""
    begin_write(db.session)
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user {email}")
    value = issue_token(db.session, user)
    db.session.commit()
    click.echo(value)


@users.command("list")
@with_appcontext
def list_users() -> None:
    """Every user, with id and role."""
    for user in db.session.scalars(sa.select(User).order_by(User.id)):
        role = "admin" if user.is_admin else "user"
        click.echo(f"{user.id:>6}  {role:<5}  {user.email}  {user.name or ''}")
