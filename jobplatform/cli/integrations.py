"""`jobplatform integrations ...`: connect a user's FUB or reZEN from the command line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..extensions import db
from ..sync import integrations as service
from ..sync.providers import LABELS, PROVIDERS
from ..users.models import User
from .follow import follow_job, report_end


@click.group()
def integrations() -> None:
    """Connect users' FUB and reZEN accounts."""


@integrations.command("connect")
@click.argument("user_id", type=int)
@click.argument("provider", type=click.Choice(PROVIDERS))
@click.option("--api-key", prompt=True, hide_input=True,
              help="The provider API key (asked for, unechoed, when left out: a key on the "
                   "command line shows in `ps`).")
@click.option("--wait", is_flag=True,
              help="Follow the first sync with a progress bar until it ends; exit non-zero "
                   "if it does not complete.")
@with_appcontext
def connect(user_id: int, provider: str, api_key: str, wait: bool) -> None:
    """Check the key with the provider, store it encrypted, start the first sync."""
    if db.session.get(User, user_id) is None:
        raise click.ClickException(f"no user {user_id}; create one with 'users create'")
    try:
        integration, job_id = service.connect(db.session, user_id, provider, api_key.strip(),
                                              actor="cli")
    except (service.KeyRejected, service.ProviderUnreachable) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"connected {LABELS[provider]} for user {user_id} "
               f"(account {integration.account_id}); first sync: job {job_id}")
    if wait:
        try:
            report_end(follow_job(db.session, job_id))
        except KeyboardInterrupt:
            click.echo(f"\nstopped following; job {job_id} runs on", err=True)
            raise click.exceptions.Exit(130) from None


@integrations.command("list")
@click.argument("user_id", type=int)
@with_appcontext
def list_integrations(user_id: int) -> None:
    """A user's connections (never the keys)."""
    for integration in service.integrations_of(db.session, user_id):
        state = "enabled" if integration.enabled else f"disabled: {integration.last_error}"
        click.echo(f"{LABELS[integration.provider]:<6} account {integration.account_id}  "
                   f"key {integration.key_fingerprint}  last success "
                   f"{integration.last_success_at or 'never'}  {state}")
