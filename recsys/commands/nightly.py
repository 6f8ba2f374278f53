"""``recsys`` sub-commands for this feature (registered by :mod:`recsys.cli`)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
