"""Spark settings and the CLI's Spark options: no JVM needed (the Spark tier is tests/spark)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.cli import main
from recsys.errors import ConfigError
from recsys.spark.session import LOCAL_CONF, REQUIRED_CONF, SparkSettings


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], {}),
        (["spark.executor.memory=2g"], {"spark.executor.memory": "2g"}),
        ([" a = b ", "empty=", "eq=x=y"], {"a": "b", "empty": "", "eq": "x=y"}),
        (("k=1", "k=2"), {"k": "2"}),
    ],
)
def test_parse_conf(pairs: list[str], expected: dict[str, str]) -> None:
    assert SparkSettings.parse_conf(pairs) == expected


@pytest.mark.parametrize("bad", ["no-equals", "=value", "  =value", ""])
def test_parse_conf_rejects(bad: str) -> None:
    with pytest.raises(ConfigError, match="key=value"):
        SparkSettings.parse_conf(["ok=1", bad])


def test_settings_refuse_an_empty_master_and_negative_partitions() -> None:
    with pytest.raises(ConfigError, match="master"):
        SparkSettings(master=" ")
    with pytest.raises(ConfigError, match="partitions"):
        SparkSettings(partitions=-1)


def test_the_manifest_never_shows_a_secret() -> None:
    conf = {
        "spark.hadoop.fs.s3a.secret.key": "s3cr3t",
        "spark.hadoop.fs.s3a.access.key": "AKIA",
        "spark.some.auth.token": "t",
        "spark.executor.memory": "4g",
    }
    recorded = SparkSettings(master="spark://h:7077", conf=conf).manifest()
    assert "s3cr3t" not in str(recorded) and "AKIA" not in str(recorded)
    assert recorded["conf"]["spark.executor.memory"] == "4g"
    assert recorded["master"] == "spark://h:7077"


def test_one_machine_defaults_stay_off_a_cluster() -> None:
    assert SparkSettings(master="local[2]").local and not SparkSettings(master="spark://h:1").local
    assert "spark.driver.memory" in LOCAL_CONF and "spark.driver.memory" not in REQUIRED_CONF


@pytest.mark.parametrize(
    "args",
    [
        ["--master", "local[2]"],
        ["--conf", "a=b"],
        ["--events", "e.parquet"],
        ["--catalog", "c.csv"],
        ["--stage", "s"],
    ],
)
def test_train_spark_options_need_the_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path / "h"), "train", *args])
    assert info.value.code == 2
    assert "need --engine spark" in capsys.readouterr().err


def test_nightly_spark_options_need_the_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path / "h"), "nightly", "--master", "local[2]"])
    assert info.value.code == 2
    assert "need --engine spark" in capsys.readouterr().err
