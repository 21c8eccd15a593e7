"""Click groups that list their commands in the order they were added."""

from __future__ import annotations

import click


class OrderedGroup(click.Group):
    """Commands listed as registered (most used first), not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)
