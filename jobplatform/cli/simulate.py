"""`jobplatform simulate fub|rezen`: a provider simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from ..simulators import FubSimulator, RezenSimulator


@click.command("simulate")
@click.argument("provider", type=click.Choice(["fub", "rezen"]))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, show_default=True, help="Port; 0 picks a free one.")
@click.option("--seed", default=1, show_default=True, help="Same seed and key, same data.")
@click.option("--people", default=500, show_default=True, help="FUB people per API key.")
@click.option("--deals", default=50, show_default=True, help="FUB deals per API key.")
@click.option(
    "--transactions", default=300, show_default=True, help="reZEN transactions per API key."
)
@click.option(
    "--rate-limit",
    type=int,
    default=None,
    help="Requests per 10 s window and key; 0 for none. "
    "[default: 250 for fub (half without X-System headers), 0 for rezen]",
)
@click.option("--latency", default=0.0, show_default=True, help="Added to each request, in ms.")
@click.option(
    "--error-rate",
    default=0.0,
    show_default=True,
    help="Fraction of requests answered 500/502/503.",
)
@click.option(
    "--churn",
    default=0.0,
    show_default=True,
    help="Records changed per minute and key as time passes.",
)
def simulate(
    provider: str,
    host: str,
    port: int,
    seed: int,
    people: int,
    deals: int,
    transactions: int,
    rate_limit: int | None,
    latency: float,
    error_rate: float,
    churn: float,
) -> None:
    """Serve a simulator of the FUB or reZEN API; any API key works except invalid*/expired*."""
    faults = {
        "seed": seed,
        "latency_ms": latency,
        "error_rate": error_rate,
        "churn_per_minute": churn,
        "host": host,
        "port": port,
    }
    simulator: FubSimulator | RezenSimulator
    if provider == "fub":
        simulator = FubSimulator(
            people=people,
            deals=deals,
            rate_limit=250 if rate_limit is None else rate_limit,
            **faults,
        )
    else:
        simulator = RezenSimulator(transactions=transactions, rate_limit=rate_limit or 0, **faults)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    with simulator:
        if isinstance(simulator, FubSimulator):
            click.echo(f"FUB simulator:   {simulator.base_url}")
        else:
            click.echo(f"reZEN arrakis:   {simulator.arrakis_url}")
            click.echo(f"reZEN yenta:     {simulator.yenta_url}")
        click.echo(f"test hooks:      {simulator.control_url}")
        click.echo("Press Ctrl-C to stop.")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
