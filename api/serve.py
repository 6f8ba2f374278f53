"""``recsys serve``: run the HTTP API under gunicorn (pre-fork workers, not Flask's dev server).

The command is registered with the ``recsys`` CLI through the ``recsys.commands`` entry-point
group (pyproject.toml); the library never imports the API.

Each worker builds its own app (no ``preload_app``): the store connection, the bundle and the
swap-watcher thread are created after the fork, so nothing is shared between processes except
files. Right after the fork each worker limits BLAS and FAISS to one thread
(:func:`limit_native_threads`): a process that merely builds an app (a test, a script) keeps its
own settings. Prometheus metrics are aggregated across workers through a fresh
``PROMETHEUS_MULTIPROC_DIR`` that is removed when the server stops (``prometheus_client`` reads
its multi-process folder from that variable only). The worker class (``api.gunicorn_worker``)
answers requests gunicorn cannot parse with the API's JSON errors and, over an SQLite store,
answers the hot reads on each worker's main thread (``--inline-reads``); no gunicorn control
socket is opened (its default path is shared by every server of the user).
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from recsys.cli import Context

DEFAULT_THREADS = 4  # gthread: threads per worker (keep-alive connections, I/O overlap)
OPTIONAL_SETTINGS = {"control_socket_disable"}  # gunicorn before 25.1 has no control socket
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multi-process folder


def limit_native_threads() -> None:
    """One BLAS / OpenMP thread per request thread (called in each worker right after the fork).

    The server already runs requests in parallel (workers x threads); letting numpy's BLAS and
    FAISS's OpenMP each start a thread per core on top oversubscribes the CPUs and makes small
    matrix products and searches several times slower under load (measured: 122 ms vs 22 ms per
    user request with four busy processes on 2 cores).
    """
    import faiss
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    faiss.omp_set_num_threads(1)


def settle_heap(*_: object) -> None:
    """Move every object the worker holds now out of the garbage collector's sight.

    Called in each worker once its app is built and after each bundle swap (the service's
    ``on_bundle_load``). A worker holds a couple of hundred thousand long-lived objects (the
    modules, the bundle's snapshot), and every full collection visited them all: 94 ms on the
    synthetic catalog. Requests that keep objects a while trigger full collections: an A/A
    experiment's exposure log holds each answer up to a second, and a full collection came
    every ~20,000 answers, 4.7 µs an answer (0.6 µs with the heap frozen; measured in-process,
    see benchmarks/README.md, issue 24). So: collect what is garbage now, then ``gc.freeze()``
    the rest. Frozen objects are still freed by reference counting when nothing uses them (the
    old snapshot after a swap); any in reference cycles wait for the next settle, which first
    unfreezes and collects everything (one full collection per swap).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def use_multiprocess_metrics() -> None:
    """Make metrics created from now on in this process write to ``$PROMETHEUS_MULTIPROC_DIR``.

    ``prometheus_client`` picks its value class once, when it is first imported, from that
    variable; the master imports it (through ``api``) before :func:`run_gunicorn` sets the
    variable, so each worker picks again after the fork, before its app creates its metrics.
    """
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def run_gunicorn(
    factory: Callable[[], Any],
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    threads: int = DEFAULT_THREADS,
    timeout: int = 30,
    access_log: bool = False,
    reuse_port: bool = True,
    inline_reads: bool = False,
) -> None:
    """Serve the WSGI app built by ``factory`` (called once in each worker) until stopped.

    Args:
        factory: returns the WSGI app; runs after the fork, in every worker.
        host: interface to bind (127.0.0.1 by default; 0.0.0.0 exposes it).
        port: TCP port.
        workers: worker processes (about one per CPU core).
        threads: threads per worker (``gthread`` worker class).
        timeout: seconds before a silent worker is killed and restarted.
        access_log: log every request to stderr.
        reuse_port: one listening socket per worker (``SO_REUSEPORT``, where the OS has it), so
            the kernel spreads new connections over the workers. With one shared socket the
            workers race to accept, and a client's keep-alive connections often land mostly or
            all on one worker, which then serves on one core while the other idles (measured
            with ``benchmarks/api_spread.py``: [0, 16] connections per worker, 1,099 req/s;
            [2, 14], 1,777-1,936; a socket per worker, [5..8, 8..11], 1,618-1,958).
            Connections waiting in a worker's queue are lost if that worker dies.
        inline_reads: answer the requests the app names as cheap reads (its ``runs_inline``)
            on each worker's main thread, the rest on its ``threads`` pool threads
            (``api.gunicorn_worker.InlineReadsWorker``); False: every request in a pool thread.
    """
    from gunicorn.app.base import BaseApplication

    reuse_port = reuse_port and hasattr(socket, "SO_REUSEPORT")
    if reuse_port:
        check_port_free(host, port)
    metrics_dir = tempfile.mkdtemp(prefix="recsys-metrics-")
    previous_metrics_dir = os.environ.get(METRICS_DIR_ENV)
    os.environ[METRICS_DIR_ENV] = metrics_dir  # inherited by the workers

    def post_fork(server: Any, worker: Any) -> None:
        limit_native_threads()
        use_multiprocess_metrics()

    def child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # gthread, with gunicorn's own error answers (431, 414, 400 ...) in the API's JSON; the
        # cheap reads on the main thread with inline_reads
        "worker_class": "api.gunicorn_worker."
        + ("InlineReadsWorker" if inline_reads else "JsonErrorWorker"),
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": 10,
        "keepalive": 5,
        # the longest request line gunicorn allows (default 4094); the OpenAPI limits on path
        # and query parameters keep every schema-valid GET below it, even percent-encoded
        "limit_request_line": 8190,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "post_fork": post_fork,
        "child_exit": child_exit,
        "proc_name": "recsys-api",
        "reuse_port": reuse_port,
        # no control socket (gunicorn >= 25.1): its default path, $XDG_RUNTIME_DIR/gunicorn.ctl or
        # ~/.gunicorn/gunicorn.ctl, is the same for every server of the user, so a second server
        # took it over and stopping either one removed it; signals still control the master
        "control_socket_disable": True,
    }

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if value is None or (key in OPTIONAL_SETTINGS and key not in self.cfg.settings):
                    continue
                self.cfg.set(key, value)

        def load(self) -> Any:
            return factory()

    master = os.getpid()
    try:
        _App().run()
    finally:
        # a worker leaves through here too (gunicorn's forked child ends with sys.exit): only the
        # master may remove the folder, or a worker that exits on HUP, TTOU or its timeout takes
        # it from the others and every new worker fails to boot, which stops the server
        if os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            if previous_metrics_dir is None:
                os.environ.pop(METRICS_DIR_ENV, None)
            else:
                os.environ[METRICS_DIR_ENV] = previous_metrics_dir


def check_port_free(host: str, port: int) -> None:
    """Fail unless ``host:port`` can be bound by a socket without ``SO_REUSEPORT``.

    With ``reuse_port`` the gunicorn master binds nothing and each worker binds its own socket:
    a port held by another program would make every worker fail to boot, over and over, and a
    port held by another ``SO_REUSEPORT`` server of the same user would be silently shared with
    it. A plain bind first fails in both cases, as a shared socket would.

    Raises:
        click.ClickException: the port is in use (or the address is not available).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn's sockets
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=DEFAULT_THREADS,
    show_default=True,
    help="Threads per worker.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="API config file (TOML/JSON); same as $RECSYS_API_CONFIG.",
)
@click.option("--access-log", is_flag=True, help="Log every request.")
@click.option(
    "--reuse-port/--no-reuse-port",
    default=True,
    show_default=True,
    help="One listening socket per worker (SO_REUSEPORT): the kernel spreads connections.",
)
@click.option(
    "--inline-reads/--no-inline-reads",
    default=None,
    help="Answer the recommendation and similar-item reads on each worker's main thread, the "
    "rest in its threads (default: on over an SQLite store, off over PostgreSQL, whose reads "
    "wait on the network). Run behind a proxy that buffers requests.",
)
@click.pass_obj
def serve(
    obj: Context,
    host: str,
    port: int,
    workers: int,
    threads: int,
    config_path: Path | None,
    access_log: bool,
    reuse_port: bool,
    inline_reads: bool | None,
) -> None:
    """Serve the HTTP API with gunicorn (keys: RECSYS_API_WRITE_KEYS / RECSYS_API_ADMIN_KEYS)."""
    home = str(obj.home.root)
    # `recsys --store URL serve` (or $RECSYS_STORE, $RECSYS_ARTIFACTS, which the config's
    # environment layer reads too): the workers use the same store and bundle folder
    where: dict[str, Any] = {"home": home}
    if obj.home.store:
        where["store"] = obj.home.store
    if obj.home.shared_artifacts is not None:
        where["artifacts"] = str(obj.home.shared_artifacts)
    config_file = None if config_path is None else str(config_path.absolute())

    def factory() -> Any:
        # in each worker, so a HUP's new workers read the config file again
        return worker_app(where, config_file)

    kind = open_store_first(where, config_file)
    if inline_reads is None:
        inline_reads = kind == "sqlite"
    run_gunicorn(
        factory,
        host,
        port,
        workers,
        threads,
        access_log=access_log,
        reuse_port=reuse_port,
        inline_reads=inline_reads,
    )


def _environ(config_file: str | None) -> dict[str, str]:
    """The environment the API config is read from: ``--config`` replaces ``$RECSYS_API_CONFIG``."""
    from api.config import CONFIG_ENV

    environ = dict(os.environ)
    if config_file is not None:
        environ[CONFIG_ENV] = config_file
    return environ


def open_store_first(where: dict[str, Any], config_file: str | None) -> str:
    """Open the workers' SQLite store once in the master, before any worker starts, and close it.

    Opening an SQLite store upgrades it in place: a store made before 2026-12 has its events
    re-indexed (about 1.1 s per million events, docs/deployment.md), holding the write lock. Left
    to the workers, the first one to open did it while the others' opens waited behind SQLite's
    busy handler, which gives up after the store's write timeout (5 s): by that rate, on a store
    of more than about 4.5 million events a worker would fail to boot, and gunicorn then stops
    the server (reasoned from the timeout, not reproduced). A store that cannot be opened at all
    stops ``recsys serve`` with the reason, before a worker starts. A PostgreSQL store
    is never upgraded on open (``recsys db migrate``), and one that is down at start must not
    stop the server (the workers answer from the bundle meanwhile): it is not opened here.

    Returns:
        The store's kind (``recsys.store.store_kind``): ``sqlite`` or ``postgresql``.

    Raises:
        click.ClickException: the SQLite store cannot be opened.
    """
    import sqlite3

    from api.config import load_api_config
    from recsys.errors import RecsysError
    from recsys.home import Home
    from recsys.store import SQLiteStore, store_kind

    config = load_api_config(where, environ=_environ(config_file))
    home = Home.resolve(config.home, store=config.store, artifacts=config.artifacts)
    kind = store_kind(home)
    if kind != "sqlite":
        return kind
    try:
        SQLiteStore(home.db_path).close()
    except (sqlite3.Error, OSError, RecsysError) as exc:
        raise click.ClickException(f"cannot open the store {home.db_path}: {exc}") from exc
    return kind


def worker_app(where: dict[str, Any], config_file: str | None) -> Any:
    """The app of one worker: built from the config, its heap settled now and at each swap.

    Args:
        where: the home, store and bundle folder ``recsys serve`` was given (config keys).
        config_file: ``--config`` (None: ``$RECSYS_API_CONFIG``, if set).
    """
    from api.app import create_app
    from api.config import load_api_config

    app = create_app(load_api_config(where, environ=_environ(config_file)))
    app.extensions["recsys"].service.on_bundle_load(settle_heap)
    settle_heap()  # the bundle create_app loaded (when one is published)
    return app
