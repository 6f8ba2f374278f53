"""A Spark standalone cluster on 127.0.0.1, started from the pip package alone.

:class:`LocalCluster` starts one master and ``workers`` workers with the ``spark-class`` script
that ships inside the ``pyspark`` wheel (no Spark download, no ``SPARK_HOME`` to set up): the
real standalone deploy mode, so a job sent to :attr:`LocalCluster.url` runs on executors in
their own JVMs, as it would on a cluster. It is what the Spark tests run against, and a person
can start one by hand::

    python -m recsys.spark.cluster --workers 2

Everything binds to 127.0.0.1 (``SPARK_LOCAL_IP``) on free ports. Each daemon runs in its own
process group, so stopping it also stops the executors and Python workers it started. Like the
rest of :mod:`recsys.spark`, this module imports ``pyspark`` nowhere: it only finds its files.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Self

from recsys.errors import ConfigError, RecsysError, SparkClusterError

HOST = "127.0.0.1"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
_MASTER_CLASS = "org.apache.spark.deploy.master.Master"
_WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
_MASTER_ATTEMPTS = 3  # a free port may be taken between choosing it and the master binding it
_MEMORY = re.compile(r"[1-9][0-9]*[kmgt]?", re.IGNORECASE)
_POLL_S = 0.25
# 127.0.0.1 is never sent through an HTTP proxy from the environment
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def java_available() -> bool:
    """Whether a Java runtime runs (``$JAVA_HOME/bin/java``, else ``java`` on the PATH).

    That is the one Spark's scripts start; Spark 4 needs Java 17 or newer.
    """
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        return False
    try:
        done = subprocess.run(
            [java, "-version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def spark_home() -> Path:
    """The Spark distribution inside the installed ``pyspark`` package (its ``bin/``, ``jars/``).

    Raises:
        ConfigError: if pyspark is not installed, or its package has no ``bin/spark-class``.
    """
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "a local Spark cluster needs pyspark: pip install 'recsys-shop[spark]' "
            "(and Java 17 on the PATH)"
        )
    home = Path(spec.origin).parent
    if not (home / "bin" / "spark-class").is_file():
        raise ConfigError(f"pyspark at {home} has no bin/spark-class: reinstall pyspark")
    return home


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal is still a member
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class LocalCluster:
    """A Spark standalone master and its workers on 127.0.0.1, as a context manager.

    Example::

        with LocalCluster(workers=2) as cluster:
            spark = spark_session(SparkSettings(master=cluster.url))

    Args:
        workers: how many workers (each starts one executor per application).
        cores: cores each worker offers.
        memory: memory each worker offers to its executors (``2g``, ``512m``).
        log_dir: where the daemons' logs (``master.log``, ``worker-1.log`` ...) and the workers'
            work folders go; ``None``: a temporary folder, removed by :meth:`stop`.

    Raises:
        ConfigError: for a count below 1 or a memory size Spark does not read.
    """

    def __init__(
        self,
        workers: int = 2,
        cores: int = 1,
        memory: str = "2g",
        log_dir: Path | None = None,
    ) -> None:
        if workers < 1:
            raise ConfigError(f"a local Spark cluster needs at least 1 worker, got {workers}")
        if cores < 1:
            raise ConfigError(f"each Spark worker needs at least 1 core, got {cores}")
        if not _MEMORY.fullmatch(memory):
            raise ConfigError(f"worker memory takes a size like 2g or 512m, got {memory!r}")
        self.workers = workers
        self.cores = cores
        self.memory = memory
        self._given_log_dir = log_dir
        self._log_dir: Path | None = None
        self._owns_log_dir = False
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._url: str | None = None
        self._webui_url: str | None = None

    # -- what callers read ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The master's URL for ``SparkSession.builder.master`` (``spark://127.0.0.1:PORT``).

        Raises:
            SparkClusterError: if the cluster is not started.
        """
        if self._url is None:
            raise SparkClusterError("the local Spark cluster is not started: call start() first")
        return self._url

    @property
    def webui_url(self) -> str:
        """The master's web UI (``http://127.0.0.1:PORT``; its JSON status is at ``/json/``).

        Raises:
            SparkClusterError: if the cluster is not started.
        """
        if self._webui_url is None:
            raise SparkClusterError("the local Spark cluster is not started: call start() first")
        return self._webui_url

    @property
    def log_dir(self) -> Path | None:
        """The folder of the daemons' logs (``None`` before :meth:`start`)."""
        return self._log_dir

    @property
    def pids(self) -> list[int]:
        """The process ids of the master and the workers (each leads its own process group)."""
        return [proc.pid for proc in self._procs]

    @property
    def running(self) -> bool:
        """Whether the cluster was started and every daemon is still alive."""
        return bool(self._procs) and all(proc.poll() is None for proc in self._procs)

    def status(self) -> dict[str, Any]:
        """The master's JSON status (``/json/``: its ``url``, ``workers`` and their ``state``).

        Raises:
            SparkClusterError: if the cluster is not started.
            OSError: if the master does not answer.
        """
        return self._fetch_status(self.webui_url)

    # -- start and stop ---------------------------------------------------------------------

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Self:
        """Start the master, then the workers; return once every worker is ALIVE.

        Args:
            timeout_s: how long to wait for the master, and then for all the workers.

        Returns:
            This cluster, started.

        Raises:
            ConfigError: if pyspark or Java is missing.
            SparkClusterError: if the cluster is already started, or a daemon exits or the cluster
                is not up in time (the message ends with the log's last lines); nothing is
                left running then, and the logs are kept, even in a temporary folder.
        """
        if self._procs:
            raise SparkClusterError(f"the local Spark cluster is already started at {self._url}")
        home = spark_home()
        if not java_available():
            raise ConfigError("a local Spark cluster needs Java 17 or newer (java on the PATH)")
        if self._given_log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="recsys-spark-cluster-"))
            self._owns_log_dir = True
        else:
            self._log_dir = self._given_log_dir
            self._log_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        try:
            self._start_master(home, timeout_s)
            for n in range(1, self.workers + 1):
                self._start_worker(home, n)
            self._wait_for_workers(timeout_s)
        except BaseException:
            self._owns_log_dir = False  # keep the logs the error points to
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every daemon with its process group: SIGTERM, then SIGKILL after ``timeout_s``.

        Idempotent; also removes the temporary log folder when no ``log_dir`` was given.
        """
        procs, self._procs = self._procs, []
        for proc in reversed(procs):  # the workers (and their executors) first, then the master
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for proc in procs:
                proc.poll()  # reap the leader: a zombie would still count as a member
            if not any(_group_alive(proc.pid) for proc in procs):
                break
            time.sleep(0.1)
        for proc in procs:
            if proc.poll() is None or _group_alive(proc.pid):
                _signal_group(proc.pid, signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout_s)
        for log in self._logs:
            log.close()
        self._logs = []
        self._url = self._webui_url = None
        atexit.unregister(self.stop)
        if self._owns_log_dir and self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._owns_log_dir = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the daemons ------------------------------------------------------------------------

    def _env(self, home: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(home),  # this pyspark's own scripts and jars, whatever the caller set
            SPARK_LOCAL_IP=HOST,  # RPC, block manager and web UIs on loopback only
            SPARK_LOCAL_HOSTNAME=HOST,  # and advertised as such
            PYSPARK_PYTHON=sys.executable,  # executors run this Python (and this recsys)
        )
        return env

    def _launch(self, home: Path, args: Sequence[str], log_name: str, env: dict[str, str]) -> Path:
        assert self._log_dir is not None
        log_path = self._log_dir / log_name
        log = log_path.open("ab")
        self._logs.append(log)
        proc = subprocess.Popen(
            [str(home / "bin" / "spark-class"), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._log_dir,
            env=env,
            start_new_session=True,  # its own process group: one signal stops it and its children
        )
        self._procs.append(proc)
        return log_path

    def _start_master(self, home: Path, timeout_s: float) -> None:
        env = self._env(home)
        # no silent move to the next port (a taken one is retried here with fresh ports), and no
        # REST submission server: it would listen on the fixed port 6066
        opts = "-Dspark.port.maxRetries=0 -Dspark.master.rest.enabled=false"
        env["SPARK_MASTER_OPTS"] = f"{env.get('SPARK_MASTER_OPTS', '')} {opts}".strip()
        for attempt in range(1, _MASTER_ATTEMPTS + 1):
            port, webui_port = _free_port(), _free_port()
            args = [_MASTER_CLASS, "--host", HOST, "--port", str(port)]
            log = self._launch(home, [*args, "--webui-port", str(webui_port)], "master.log", env)
            master = self._procs[-1]
            webui_url = f"http://{HOST}:{webui_port}"
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and master.poll() is None:
                with contextlib.suppress(OSError, ValueError):
                    status = self._fetch_status(webui_url)
                    if status.get("status") == "ALIVE":
                        self._url = str(status.get("url") or f"spark://{HOST}:{port}")
                        self._webui_url = webui_url
                        return
                time.sleep(_POLL_S)
            if master.poll() is None:
                raise SparkClusterError(
                    f"the Spark master did not come up in {timeout_s:.0f} s; "
                    f"the end of {log}:\n{_tail(log)}"
                )
            self._procs.pop()
            if attempt == _MASTER_ATTEMPTS:
                raise SparkClusterError(
                    f"the Spark master exited with code {master.returncode} "
                    f"({_MASTER_ATTEMPTS} tries); the end of {log}:\n{_tail(log)}"
                )

    def _start_worker(self, home: Path, n: int) -> None:
        assert self._log_dir is not None
        work_dir = self._log_dir / f"worker-{n}"  # executors' stdout/stderr, not site-packages
        work_dir.mkdir(parents=True, exist_ok=True)
        args = [
            _WORKER_CLASS,
            "--host",
            HOST,
            "--cores",
            str(self.cores),
            "--memory",
            self.memory,
            "--webui-port",
            "0",
            "--work-dir",
            str(work_dir),
            self.url,
        ]
        self._launch(home, args, f"worker-{n}.log", self._env(home))

    def _wait_for_workers(self, timeout_s: float) -> None:
        assert self._log_dir is not None
        deadline = time.monotonic() + timeout_s
        alive = 0
        while time.monotonic() < deadline:
            for proc, log in zip(self._procs, self._log_names(), strict=True):
                if proc.poll() is not None:
                    raise SparkClusterError(
                        f"a Spark daemon exited with code {proc.returncode} while starting; "
                        f"the end of {self._log_dir / log}:\n{_tail(self._log_dir / log)}"
                    )
            with contextlib.suppress(OSError, ValueError):
                workers = self.status().get("workers", [])
                alive = sum(1 for worker in workers if worker.get("state") == "ALIVE")
                if alive >= self.workers:
                    return
            time.sleep(_POLL_S)
        tails = "\n".join(
            f"--- {log}:\n{_tail(self._log_dir / log, 15)}" for log in self._log_names()
        )
        raise SparkClusterError(
            f"only {alive} of {self.workers} Spark workers were ALIVE after {timeout_s:.0f} s; "
            f"the ends of the logs in {self._log_dir}:\n{tails}"
        )

    def _log_names(self) -> list[str]:
        return ["master.log", *(f"worker-{n}.log" for n in range(1, len(self._procs)))]

    @staticmethod
    def _fetch_status(webui_url: str) -> dict[str, Any]:
        with _HTTP.open(f"{webui_url}/json/", timeout=5) as response:
            status: dict[str, Any] = json.load(response)
        return status


def main(argv: Sequence[str] | None = None) -> int:
    """Start a local cluster, print its URL, and keep it up until Ctrl-C or SIGTERM.

    Args:
        argv: the command-line arguments (``None``: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 after a clean stop, 1 if the cluster failed to start or a daemon
        died.
    """
    parser = argparse.ArgumentParser(
        prog="python -m recsys.spark.cluster",
        description="A Spark standalone master and workers on 127.0.0.1, until Ctrl-C.",
    )
    parser.add_argument("--workers", type=int, default=2, help="number of workers (default 2)")
    parser.add_argument("--cores", type=int, default=1, help="cores per worker (default 1)")
    parser.add_argument("--memory", default="2g", help="memory per worker (default 2g)")
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="folder of the logs (default: a temporary one)"
    )
    args = parser.parse_args(argv)

    def _interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        cluster = LocalCluster(args.workers, args.cores, args.memory, args.log_dir)
        with cluster:
            print(cluster.url, flush=True)
            print(f"web UI: {cluster.webui_url}  logs: {cluster.log_dir}", file=sys.stderr)
            print("Ctrl-C stops it", file=sys.stderr, flush=True)
            while cluster.running:
                time.sleep(1.0)
            print("a Spark daemon exited; stopping the cluster", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 0
    except RecsysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
