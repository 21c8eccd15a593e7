"""The `jobplatform` command: a Flask CLI group (so `db upgrade` and `run` come with it)."""

from __future__ import annotations

from flask.cli import FlaskGroup

from ..app import create_app
from .applier import applier
from .integrations import integrations
from .platform import up
from .simulate import simulate
from .users import users

cli = FlaskGroup(
    name="jobplatform",
    create_app=create_app,
    help="Run and operate the jobplatform background-job platform.",
)
cli.add_command(up)
cli.add_command(applier)
cli.add_command(users)
cli.add_command(simulate)
cli.add_command(integrations)


def main() -> None:
    cli.main(prog_name="jobplatform")
