"""Sub-commands of ``recsys`` kept in their own modules (pitch, tune, erase, db).

Each module exposes ``COMMANDS``, a list of click commands that :mod:`recsys.cli` registers.
Commands receive the shared :class:`recsys.cli.Context` through ``@click.pass_obj``. Commands of
the applications outside the library (``recsys serve`` in ``api/serve.py``, ``recsys nightly`` and
``recsys rollback`` in ``jobs/nightly/command.py``) register themselves through the
``recsys.commands`` entry-point group instead (see :mod:`recsys.cli`).
"""

from __future__ import annotations

import click


def all_commands() -> list[click.Command]:
    """Every library command kept outside cli.py, in registration order."""
    from recsys.commands import db, erase, experiment, insights, pitch, tune

    return [
        *pitch.COMMANDS,
        *tune.COMMANDS,
        *erase.COMMANDS,
        *db.COMMANDS,
        *insights.COMMANDS,
        *experiment.COMMANDS,
    ]
