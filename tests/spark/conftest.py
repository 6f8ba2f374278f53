"""Spark fixtures: a ``local[2]`` session for the run, a standalone cluster on 127.0.0.1, and
``spark_on(master)`` to move this process's one SparkContext to another master.

Every test under ``tests/spark`` is marked ``spark`` here (``make test`` leaves them out,
``make test-spark`` runs them); they skip, with the reason, only when pyspark (or pyarrow) is
not installed or no Java runs, and fail then when ``RECSYS_REQUIRE_SPARK=1`` (CI).

A process has one SparkContext, so a test that wants a session on the cluster stops the local
one (``spark_on``). Tests that use ``spark_on`` or ``cluster`` therefore run after all the others
(the collection is reordered, stably), and the ``spark`` fixture creates its local session through
``spark_on`` too, stopping whatever session came first; a test that would still get a stopped
``spark`` session fails with a message that says why, instead of a py4j error.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from recsys.spark.cluster import LocalCluster, java_available
from recsys.spark.session import SparkSettings, spark_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

HERE = Path(__file__).resolve().parent
LOCAL = SparkSettings(master="local[2]", conf={"spark.sql.shuffle.partitions": "4"})
# the fixtures whose tests move the SparkContext away from the local session
SWITCHING = frozenset({"spark_on", "cluster"})

SparkOn = Callable[..., "SparkSession"]


@functools.cache
def skip_reason() -> str | None:
    """Why Spark cannot run here (``None``: it can)."""
    for module in ("pyspark", "pyarrow"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed: pip install -e '.[spark]' (or make test-spark)"
    if not java_available():
        return "no Java runtime: Spark needs Java 17+ (java on the PATH or JAVA_HOME)"
    return None


def _skip_without_spark() -> None:
    """Skip when Spark cannot run here; fail instead where it must (``RECSYS_REQUIRE_SPARK=1``,
    as CI sets it), so a missing Java cannot turn the Spark tier green by skipping it."""
    reason = skip_reason()
    if reason is not None:
        if os.environ.get("RECSYS_REQUIRE_SPARK") == "1":
            pytest.fail(f"RECSYS_REQUIRE_SPARK=1 but {reason}")
        pytest.skip(reason)


def stop_active_spark() -> None:
    """Stop this process's SparkContext and its session, if there is one."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is None:
        return
    session = SparkSession.getActiveSession() or SparkSession._instantiatedSession
    if session is not None:
        session.stop()
    context = SparkContext._active_spark_context
    if context is not None:
        context.stop()


def spark_on(master: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    """Stop any running session, then start one on ``master`` (``local[2]``, ``spark://...``).

    ``conf`` goes on top of the tests' own (``spark.sql.shuffle.partitions=4``) and the
    engine's defaults.
    """
    stop_active_spark()
    return spark_session(
        SparkSettings(master=master, conf={**LOCAL.conf, **(conf or {})}, app_name="recsys-tests")
    )


def _alive(session: SparkSession) -> bool:
    return session.sparkContext._jsc is not None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    """Mark the tests of this folder ``spark`` (before ``-m`` selects); run last those of them
    that switch masters (after pytest's own reordering).
    """
    mine = set()
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.spark)
            mine.add(item.nodeid)
    yield

    def switches(item: pytest.Item) -> bool:
        names = getattr(item, "fixturenames", ())
        return item.nodeid in mine and not SWITCHING.isdisjoint(names)

    items.sort(key=switches)  # stable: the order is otherwise kept


@pytest.fixture(scope="session", name="spark_on")
def spark_on_fixture() -> Iterator[SparkOn]:
    """``spark_on(master, conf=None) -> SparkSession``: the one session, moved to ``master``.

    Whatever session is left running is stopped at the end of the run.
    """
    _skip_without_spark()
    yield spark_on
    stop_active_spark()


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The ``local[2]`` session (4 shuffle partitions) shared by the run; stopped at the end.

    Made by :func:`spark_on` (which stops any other session first), but not through the
    ``spark_on`` fixture: a test that uses ``spark`` does not switch masters.
    """
    _skip_without_spark()
    session = spark_on(LOCAL.master, LOCAL.conf)
    yield session
    if _alive(session):
        session.stop()


@pytest.fixture(autouse=True)
def _spark_still_local(request: pytest.FixtureRequest) -> None:
    """Fail clearly if a test gets a ``spark`` session that a switching test has stopped."""
    if "spark" in request.fixturenames and not _alive(request.getfixturevalue("spark")):
        pytest.fail(
            "the session-wide `spark` session was stopped by a test that switched masters "
            f"(it used one of {sorted(SWITCHING)}); such tests must run after the others"
        )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A started standalone cluster on 127.0.0.1: a master and 2 workers (1 core, 2g each).

    Its logs are in a temporary folder (named in the error if it does not start). A session left
    on it is stopped before the cluster is.
    """
    _skip_without_spark()
    with LocalCluster(workers=2, log_dir=tmp_path_factory.mktemp("spark-cluster")) as started:
        yield started
        from pyspark import SparkContext

        context = SparkContext._active_spark_context
        if context is not None and context.master == started.url:
            stop_active_spark()
