"""The `jobplatform` command: jobplatform's own commands, and Flask's (run, routes, shell)
listed apart."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click
import kombu.exceptions
import redis.exceptions
import sqlalchemy as sa
from flask import Flask
from flask.cli import ScriptInfo, routes_command, run_command, shell_command

from .. import store_errors
from ..app import create_app
from ..config import Settings
from .applier import applier
from .db import db
from .demo import demo
from .group import OrderedGroup
from .integrations import integrations
from .jobs import jobs
from .operator import AS_KEY
from .platform import up
from .simulate import simulate
from .status import status
from .users import users

# In the order `--help` lists them.
COMMANDS: list[click.Command] = [demo, up, status, jobs, users, integrations, db, simulate, applier]
FLASK_COMMANDS: list[click.Command] = [run_command, routes_command, shell_command]
# The commands on the job store: a database that is not there yet is refused in one line,
# before connecting (which would create an empty SQLite file).
STORE_COMMANDS = frozenset(command.name for command in (status, jobs, users, integrations))


def _version() -> str:
    try:
        return version("jobplatform")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def load_app() -> Flask:
    """The app of the command being run (what `with_appcontext` loads)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().invoked_subcommand in STORE_COMMANDS:
        problem = store_errors.missing_database(Settings.from_env().database_url)
        if problem:
            raise click.ClickException(problem)
    return create_app()


class JobplatformGroup(OrderedGroup):
    """Flask's commands in a help section of their own, and an unreachable store or broker
    said in one line rather than a traceback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flask_names: set[str] = set()

    def add_flask_command(self, command: click.Command) -> None:
        self.add_command(command)
        self.flask_names.add(command.name or "")

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # What `with_appcontext` loads the app from, fresh for every invocation.
        extra.setdefault("obj", ScriptInfo(create_app=load_app))
        return super().make_context(info_name, args, parent=parent, **extra)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"Commands": [], "Flask commands": []}
        limit = formatter.width - 6 - max(len(name) for name in self.commands)
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            section = "Flask commands" if name in self.flask_names else "Commands"
            sections[section].append((name, command.get_short_help_str(limit)))
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            url = Settings.from_env().database_url
            raise click.ClickException(store_errors.describe(exc, url)) from None
        except (redis.exceptions.ConnectionError, kombu.exceptions.OperationalError) as exc:
            raise click.ClickException(
                f"the broker is unreachable: {store_errors.first_line(exc)}"
            ) from None


@click.group(cls=JobplatformGroup, name="jobplatform")
@click.version_option(
    _version(), "--version", "-V", prog_name="jobplatform", message="%(prog)s %(version)s"
)
@click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Act as this jobplatform user, with their scope (default: an operator, "
    "recorded as cli:<your OS user>).",
)
@click.pass_context
def cli(ctx: click.Context, as_email: str | None) -> None:
    """Run and operate the jobplatform background-job platform.

    Commands read and act on the job store and broker directly, by the API's rules: as an
    operator, with every action's history naming cli:<your OS user> (or, with --as EMAIL,
    cli:<email> with that user's scope). Read commands take --json for scripts.
    """
    ctx.meta[AS_KEY] = as_email


for _command in COMMANDS:
    cli.add_command(_command)
for _command in FLASK_COMMANDS:
    cli.add_flask_command(_command)


def main() -> None:
    cli.main(prog_name="jobplatform")
