"""`jobplatform integrations ...`: connect a user's FUB or reZEN from the command line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..extensions import db
from ..jobs.enqueue import EnqueueFailed
from ..sync import integrations as service
from ..sync.providers import LABELS, PROVIDERS
from ..users.models import User
from ..web.api.integrations import integration_json
from .follow import follow_until_end
from .group import OrderedGroup
from .operator import current_operator
from .output import ago, console, print_json


@click.group(cls=OrderedGroup)
def integrations() -> None:
    """Connect users' FUB and reZEN accounts, and list them."""


@integrations.command("connect")
@click.argument("user_id", type=int)
@click.argument("provider", type=click.Choice(PROVIDERS))
@click.option(
    "--api-key",
    prompt=True,
    hide_input=True,
    help="The provider API key (asked for, unechoed, when left out: a key on the "
    "command line shows in `ps`).",
)
@click.option(
    "--wait",
    is_flag=True,
    help="Follow the first sync with a progress bar until it ends; exit non-zero "
    "if it does not complete.",
)
@with_appcontext
def connect(user_id: int, provider: str, api_key: str, wait: bool) -> None:
    """Check the key with the provider, store it encrypted, start the first sync."""
    operator = current_operator()
    operator.check_user(user_id)
    if db.session.get(User, user_id) is None:
        raise click.ClickException(f"no user {user_id}; create one with 'users create'")
    try:
        integration, job_id = service.connect(
            db.session, user_id, provider, api_key.strip(), actor=operator.actor
        )
    except (service.KeyRejected, service.ProviderUnreachable) as exc:
        raise click.ClickException(str(exc)) from None
    except EnqueueFailed as exc:
        raise click.ClickException(
            f"connected, but the first sync could not be queued: {exc}"
        ) from None
    click.echo(
        f"connected {LABELS[provider]} for user {user_id} "
        f"(account {integration.account_id}); first sync: job {job_id}"
    )
    if wait:
        follow_until_end(db.session, job_id, console=console())


@integrations.command("list")
@click.argument("user_id", type=int)
@click.option(
    "--json", "as_json", is_flag=True, help="The API's GET /integrations JSON (for scripts)."
)
@with_appcontext
def list_integrations(user_id: int, as_json: bool) -> None:
    """A user's connections (never the keys)."""
    current_operator().check_user(user_id)
    found = service.integrations_of(db.session, user_id)
    if as_json:
        print_json([integration_json(integration) for integration in found])
        return
    if not found:
        click.echo(f"user {user_id} has no integrations")
    for integration in found:
        state = "enabled" if integration.enabled else f"disabled: {integration.last_error}"
        click.echo(
            f"{LABELS[integration.provider]:<6} account {integration.account_id}  "
            f"key {integration.key_fingerprint}  last success "
            f"{ago(integration.last_success_at) if integration.last_success_at else 'never'}"
            f"  {state}"
        )
