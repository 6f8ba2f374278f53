"""README claims that code can check: the configuration defaults, make targets, CLI commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

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
    assert named and named <= set(cli.commands), sorted(named - set(cli.commands))


def test_the_layout_lists_every_recsys_subpackage_and_top_level_folder() -> None:
    layout = re.search(r"```\n(recsys/.*?)```", _section("Project layout"), re.S)
    assert layout is not None
    text = layout.group(1)
    packages = {p.parent.name for p in (ROOT / "recsys").glob("*/__init__.py")}
    listed = set(re.findall(r"\b([a-z]+)/ \(", text))
    assert packages == listed, (sorted(packages - listed), sorted(listed - packages))
    for folder in re.findall(r"^([a-z]+)/ ", text, re.M):
        assert (ROOT / folder).is_dir(), folder
