"""README claims that code can check: the configuration defaults, make targets, CLI commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click

from recsys.cli import cli
from recsys.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else None]


def test_the_configuration_block_shows_the_real_defaults() -> None:
    block = re.search(r"```toml\n(.*?)```", _section("Configuration"), re.S)
    assert block is not None
    shown = tomllib.loads(block.group(1))
    assert shown  # the block is not all comments
    # every value shown must be the default: a changed default must change the README too
    assert TrainConfig.from_dict(shown) == TrainConfig()


def test_every_make_target_named_in_the_readme_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z][a-z-]*)", README))
    assert named and named <= targets, sorted(named - targets)


def test_every_recsys_command_named_in_the_readme_exists() -> None:
    named = set(re.findall(r"(?:^|`|\$ |/)recsys ([a-z][a-z-]+)", README, re.M))
    # the registered commands too (serve, nightly, rollback live in api/ and jobs/)
    commands = set(cli.list_commands(click.Context(cli)))
    assert named and named <= commands, sorted(named - commands)


def test_the_layout_lists_every_recsys_subpackage_and_top_level_folder() -> None:
    layout = re.search(r"```\n(recsys/.*?)```", _section("Project layout"), re.S)
    assert layout is not None
    text = layout.group(1)
    packages = {p.parent.name for p in (ROOT / "recsys").glob("*/__init__.py")}
    listed = set(re.findall(r"\b([a-z]+)/ \(", text))
    assert packages == listed, (sorted(packages - listed), sorted(listed - packages))
    for folder in re.findall(r"^([a-z]+)/ ", text, re.M):
        assert (ROOT / folder).is_dir(), folder


def test_the_layout_names_every_module_of_recsys_and_api() -> None:
    layout = re.search(r"```\n(recsys/.*?)```", _section("Project layout"), re.S)
    assert layout is not None
    blocks = re.split(r"^(?=[a-z]+/ )", layout.group(1), flags=re.M)
    for package in ("recsys", "api"):
        block = next(b for b in blocks if b.startswith(f"{package}/ "))
        words = set(re.findall(r"[a-z_]+", block))
        modules = {p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__"}
        assert modules <= words, (package, sorted(modules - words))
