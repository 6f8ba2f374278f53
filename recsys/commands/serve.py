"""``recsys serve``: run the HTTP API under gunicorn (pre-fork workers, not Flask's dev server).

Each worker builds its own app (no ``preload_app``): the store connection, the bundle and the
swap-watcher thread are created after the fork, so nothing is shared between processes except
files. Prometheus metrics are aggregated across workers through a fresh
``PROMETHEUS_MULTIPROC_DIR`` that is removed when the server stops.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

DEFAULT_THREADS = 4  # gthread: threads per worker (keep-alive connections, I/O overlap)


def run_gunicorn(
    factory: Callable[[], Any],
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    threads: int = DEFAULT_THREADS,
    timeout: int = 30,
    access_log: bool = False,
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
    """
    from gunicorn.app.base import BaseApplication

    metrics_dir = tempfile.mkdtemp(prefix="recsys-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    def child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
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
    }

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return factory()

    try:
        _App().run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


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
@click.pass_obj
def serve(
    obj: Any,
    host: str,
    port: int,
    workers: int,
    threads: int,
    config_path: Path | None,
    access_log: bool,
) -> None:
    """Serve the HTTP API with gunicorn (keys: RECSYS_API_WRITE_KEYS / RECSYS_API_ADMIN_KEYS)."""
    if config_path is not None:
        os.environ["RECSYS_API_CONFIG"] = str(config_path.absolute())
    home = str(obj.home.root)

    def factory() -> Any:
        from api.app import create_app

        return create_app({"home": home})

    run_gunicorn(factory, host, port, workers, threads, access_log=access_log)


COMMANDS: list[click.Command] = [serve]
