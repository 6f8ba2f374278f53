"""The standalone cluster on 127.0.0.1 really runs jobs on its two workers, and stops cleanly."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from recsys.errors import ConfigError, SparkClusterError
from recsys.spark.cluster import LocalCluster

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SparkOn = Callable[..., "SparkSession"]


def _wait_for_executors(spark: SparkSession, count: int, timeout_s: float = 90.0) -> None:
    """Wait until ``count`` executors (besides the driver) have registered with the driver."""
    deadline = time.monotonic() + timeout_s
    registered = 0
    while time.monotonic() < deadline:
        # the block managers the driver knows: its own and one per executor
        registered = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
        if registered >= count:
            return
        time.sleep(0.25)
    pytest.fail(f"only {registered} of {count} executors registered in {timeout_s:.0f} s")


def _tree(pids: list[int]) -> set[int]:
    """``pids`` and all their descendants that are alive now."""
    found = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            found |= {root.pid, *(child.pid for child in root.children(recursive=True))}
        except psutil.NoSuchProcess:
            continue
    return found


def _connections(proc: psutil.Process) -> list[Any]:
    try:
        return list(proc.net_connections(kind="inet"))
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def test_jobs_run_on_both_workers(cluster: LocalCluster, spark_on: SparkOn) -> None:
    assert cluster.url.startswith("spark://127.0.0.1:")
    assert [worker["state"] for worker in cluster.status()["workers"]] == ["ALIVE", "ALIVE"]
    spark = spark_on(cluster.url)
    try:
        assert spark.sparkContext.master == cluster.url
        _wait_for_executors(spark, 2)
        assert spark.sparkContext.parallelize(range(1000), 4).sum() == 499500
        assert spark.range(1000).selectExpr("sum(id) AS s").collect()[0]["s"] == 499500

        def executor_pid(partition: Iterable[int]) -> Iterator[int]:
            """The pid of the executor JVM that runs this Python task: a java ancestor."""
            import psutil

            for _ in partition:
                time.sleep(0.05)  # long enough that one executor cannot take every task first
            proc: psutil.Process | None = psutil.Process()
            while proc is not None and proc.name() != "java":
                proc = proc.parent()
            yield -1 if proc is None else proc.pid

        # a nested function: pickled by value (the executors cannot import this test module)
        executors = spark.sparkContext.parallelize(range(64), 16).mapPartitions(executor_pid)
        pids = set(executors.collect())
        assert len(pids) == 2, pids
        # one executor under each worker: the workers' own process trees hold them
        master_pid, *worker_pids = cluster.pids
        assert len(worker_pids) == 2
        for worker_pid in worker_pids:
            assert len(pids & _tree([worker_pid])) == 1, (worker_pid, pids)
        assert not pids & _tree([master_pid])
        # every port of the daemons, the executors and the driver is on the loopback only
        listening = {
            (proc.pid, conn.laddr.ip, conn.laddr.port)
            for proc in psutil.Process().children(recursive=True)
            for conn in _connections(proc)
            if conn.status == psutil.CONN_LISTEN
        }
        # the master, 2 workers, 2 executors and the driver JVM
        assert len({pid for pid, _, _ in listening}) >= 6, listening
        assert {ip for _, ip, _ in listening} <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening
    finally:
        spark.stop()


def test_stop_leaves_no_process_behind(tmp_path: Path, spark_on: SparkOn) -> None:
    cluster = LocalCluster(workers=1, memory="1g", log_dir=tmp_path / "logs")
    with cluster:
        spark = spark_on(cluster.url)
        try:
            _wait_for_executors(spark, 1)
            assert spark.sparkContext.parallelize(range(10), 2).map(lambda x: x * x).sum() == 285
            # the master, the worker, its executor JVM and the executor's Python workers
            processes = _tree(cluster.pids)
            assert len(processes) >= 4, processes
            # stopped while the application still runs: the executor must go with its worker
            cluster.stop()
        finally:
            spark.stop()
    cluster.stop()  # idempotent, as is the __exit__ above

    alive = [pid for pid in processes if _running(pid)]
    assert not alive, alive
    assert not cluster.running
    with pytest.raises(SparkClusterError, match="not started"):
        _ = cluster.url
    # nothing of this cluster is left anywhere (its logs' folder is in every daemon's cwd)
    leftovers = [
        proc.info
        for proc in psutil.process_iter(["pid", "cmdline", "cwd"])
        if str(tmp_path) in " ".join(proc.info["cmdline"] or []) + str(proc.info["cwd"] or "")
    ]
    assert not leftovers, leftovers
    assert (tmp_path / "logs" / "master.log").is_file()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"workers": 0}, "at least 1 worker"),
        ({"cores": 0}, "at least 1 core"),
        ({"memory": "lots"}, "size like 2g"),
        ({"memory": "0g"}, "size like 2g"),
    ],
)
def test_cluster_rejects_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LocalCluster(**kwargs)  # type: ignore[arg-type]


def test_spark_fixture_is_local(spark: SparkSession) -> None:
    assert spark.sparkContext.master == "local[2]"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    assert spark.sparkContext.parallelize(range(1000), 4).sum() == 499500
