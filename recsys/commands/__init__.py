"""Sub-commands of ``recsys`` that live beside their feature (serve, pitch, tune, nightly).

Each module exposes ``COMMANDS``, a list of click commands that :mod:`recsys.cli` registers.
Commands receive the shared :class:`recsys.cli.Context` through ``@click.pass_obj``.
"""

from __future__ import annotations

import click


def all_commands() -> list[click.Command]:
    """Every extension command, in registration order."""
    from recsys.commands import erase, nightly, pitch, serve, tune

    return [
        *serve.COMMANDS,
        *pitch.COMMANDS,
        *tune.COMMANDS,
        *nightly.COMMANDS,
        *erase.COMMANDS,
    ]
