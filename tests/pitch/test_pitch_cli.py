"""``recsys pitch --config``: the [pitch] table of a config file, options on top."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from recsys.cli import cli, main
from recsys.home import Home
from recsys.store import Store


def run(home: Home, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--home", str(home.root), "pitch", *args])
    return result.exit_code, result.stdout + result.stderr


def test_the_config_files_pitch_table_is_read(
    shop_home: Home, shop_store: Store, tmp_path: Path
) -> None:
    config = tmp_path / "pitch.toml"
    config.write_text('[pitch]\nbackend = "template"\nlanguage = "de"\n')
    code, out = run(shop_home, "run1", "r1", "--config", str(config), "--json")
    assert code == 0, out
    [pitch] = json.loads(out[out.index("[") :])
    assert pitch["source"] == "template" and pitch["pitch"].startswith("Weil Sie")
    # an option overrides the file
    code, out = run(shop_home, "run1", "r1", "--config", str(config), "--language", "en", "--json")
    assert code == 0 and json.loads(out[out.index("[") :])[0]["pitch"].startswith("Because you")


def test_a_bad_pitch_table_is_a_usage_error_of_one_line(
    shop_home: Home, shop_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pitch.toml"
    for text, message in (
        ("[pitch]\nsamples = 3\n", "unknown key 'samples' in [pitch]"),
        ("[pitch\n", "pitch.toml' is not valid"),
    ):
        config.write_text(text)
        with pytest.raises(SystemExit) as exit_info:
            main(["--home", str(shop_home.root), "pitch", "run1", "r1", "--config", str(config)])
        assert exit_info.value.code == 2  # a usage error, as for every other config file
        assert message in capsys.readouterr().err
