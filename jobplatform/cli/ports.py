"""Checking, before anything starts, that a port `up` needs is free."""

from __future__ import annotations

import errno
import socket

import click


def ensure_port_free(port: int, *, host: str = "127.0.0.1", option: str = "--port") -> None:
    """Raise a one-line ClickException unless `host:port` can be listened on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As gunicorn does: a port left in TIME_WAIT by a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} is in use (another jobplatform up?); pick another with {option}"
                ) from None
            if exc.errno == errno.EACCES:
                raise click.ClickException(
                    f"port {port} needs privileges to listen on; pick one above 1023 with {option}"
                ) from None
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another port with {option}"
            ) from None
