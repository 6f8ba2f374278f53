"""``recsys serve``: run the HTTP API under gunicorn (pre-fork workers, not Flask's dev server).

Each worker builds its own app (no ``preload_app``): the store connection, the bundle and the
swap-watcher thread are created after the fork, so nothing is shared between processes except
files. Prometheus metrics are aggregated across workers through a fresh
``PROMETHEUS_MULTIPROC_DIR`` that is removed when the server stops. The worker class
(``api.gunicorn_worker``) answers requests gunicorn cannot parse with the API's JSON errors, and
no gunicorn control socket is opened (its default path is shared by every server of the user).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

DEFAULT_THREADS = 4  # gthread: threads per worker (keep-alive connections, I/O overlap)
OPTIONAL_SETTINGS = {"control_socket_disable"}  # gunicorn before 25.1 has no control socket


def run_gunicorn(
    factory: Callable[[], Any],
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    threads: int = DEFAULT_THREADS,
    timeout: int = 30,
    access_log: bool = False,
    reuse_port: bool = True,
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
    """
    from gunicorn.app.base import BaseApplication

    reuse_port = reuse_port and hasattr(socket, "SO_REUSEPORT")
    if reuse_port:
        check_port_free(host, port)
    metrics_dir = tempfile.mkdtemp(prefix="recsys-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    def child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # gthread, with gunicorn's own error answers (431, 414, 400 ...) in the API's JSON
        "worker_class": "api.gunicorn_worker.JsonErrorWorker",
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
@click.pass_obj
def serve(
    obj: Any,
    host: str,
    port: int,
    workers: int,
    threads: int,
    config_path: Path | None,
    access_log: bool,
    reuse_port: bool,
) -> None:
    """Serve the HTTP API with gunicorn (keys: RECSYS_API_WRITE_KEYS / RECSYS_API_ADMIN_KEYS)."""
    if config_path is not None:
        os.environ["RECSYS_API_CONFIG"] = str(config_path.absolute())
    home = str(obj.home.root)

    def factory() -> Any:
        from api.app import create_app

        return create_app({"home": home})

    run_gunicorn(
        factory, host, port, workers, threads, access_log=access_log, reuse_port=reuse_port
    )


COMMANDS: list[click.Command] = [serve]
