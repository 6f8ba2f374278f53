"""The Spark session the engine trains with.

:class:`SparkSettings` is what a caller chooses (``recsys train --engine spark --master ...
--conf k=v``); :func:`spark_session` turns it into a session whose executors run this very
Python (``PYSPARK_PYTHON``), so they import the same ``recsys`` and the same packaged models.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recsys.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# what the engine needs on any master (``--conf`` may still override them)
REQUIRED_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",  # naive Parquet timestamps are UTC, as on import
    "spark.ui.showConsoleProgress": "false",  # stage bars on stderr: noise in logs and CI
}
# small defaults for one machine (``local`` masters only: on a cluster, its spark-defaults.conf
# and ``--conf`` decide)
LOCAL_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "4g",
}
SECRET_KEY = re.compile(r"secret|password|token|key|credential|auth", re.IGNORECASE)


@dataclass(frozen=True)
class SparkSettings:
    """Where and how the Spark engine runs.

    Attributes:
        master: ``local[*]`` (default), ``local[N]``, or a cluster URL (``spark://host:7077``).
        conf: Spark properties passed through as they are (``spark.executor.memory`` ...).
        partitions: partitions of the per-user and per-text work (0: twice the default
            parallelism).
        app_name: the application's name on the cluster.
    """

    master: str = "local[*]"
    conf: Mapping[str, str] = field(default_factory=dict)
    partitions: int = 0
    app_name: str = "recsys-train"

    def __post_init__(self) -> None:
        if not self.master.strip():
            raise ConfigError("spark master must not be empty (e.g. local[*] or spark://host:7077)")
        if self.partitions < 0:
            raise ConfigError(f"spark partitions must be >= 0, got {self.partitions}")

    @classmethod
    def parse_conf(cls, pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
        """``["k=v", ...]`` (the CLI's ``--conf``) as a dict.

        Raises:
            ConfigError: for a pair without ``=`` or with an empty key.
        """
        conf: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--conf takes key=value, got {pair!r}")
            conf[key.strip()] = value.strip()
        return conf

    @property
    def local(self) -> bool:
        """Whether the master is this process (``local``, ``local[N]``, ``local[*]``)."""
        return self.master.startswith("local")

    def manifest(self) -> dict[str, Any]:
        """What the bundle's manifest records of these settings.

        The manifest is served (``GET /v1/model``), so a property whose name suggests a secret
        (``fs.s3a.secret.key``, a token, a password) is recorded as ``***``.
        """
        conf = {k: "***" if SECRET_KEY.search(k) else v for k, v in self.conf.items()}
        return {"master": self.master, "conf": conf, "partitions": self.partitions}


def require_pyspark() -> None:
    """Raise a clear error when the ``[spark]`` extra (pyspark, pyarrow) is not installed.

    Raises:
        ConfigError: naming the missing package and how to install it.
    """
    for module in ("pyspark", "pyarrow"):
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(
                f"the Spark engine needs {module}: pip install 'recsys-shop[spark]' "
                "(and Java 17 on the PATH)"
            ) from None


def spark_session(settings: SparkSettings) -> SparkSession:
    """Start (or join) the Spark session for ``settings``.

    The executors run ``sys.executable`` unless ``PYSPARK_PYTHON`` says otherwise.

    Raises:
        ConfigError: if pyspark is not installed.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if settings.master.startswith(("local", "spark://127.0.0.1", "spark://localhost")):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # one machine: loopback only
    builder = SparkSession.builder.master(settings.master).appName(settings.app_name)
    defaults = {**(LOCAL_CONF if settings.local else {}), **REQUIRED_CONF}
    for key, value in {**defaults, **settings.conf}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def partitions(spark: SparkSession, settings: SparkSettings) -> int:
    """How many partitions the per-user and per-text work is split into."""
    if settings.partitions:
        return settings.partitions
    return max(2, 2 * int(spark.sparkContext.defaultParallelism))
