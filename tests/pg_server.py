"""A throw-away PostgreSQL server for tests, from Debian's ``postgresql`` package.

:class:`PostgresServer` runs ``initdb`` into a temporary folder and ``pg_ctl start`` on a free
TCP port of 127.0.0.1 (trust authentication, user ``shop``), and hands out one fresh database per
test (:meth:`PostgresServer.new_schema_url`). ``initdb`` and ``pg_ctl`` refuse to run as root, so
as root the folder is given to the ``postgres`` OS user (which the package creates) and the
binaries run through ``runuser -u postgres --``; as anyone else they run as that user.

``fsync`` stays on (the server's default): durability tests stop the server (``immediate`` is a
crash) and expect every committed row back after :meth:`PostgresServer.start_again`.

No server outlives the process that started it: :meth:`PostgresServer.close` runs at exit
(also after Ctrl-C), and a small watchdog process, in its own session, stops the server and
removes its folder when the starting process dies without running it (``SIGKILL``, a CI timeout).

psycopg (psycopg 3) is imported only inside the methods that connect, so this module imports
without it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType

PG_ROOT = Path("/usr/lib/postgresql")
USER = "shop"
OS_USER = "postgres"  # the OS user that runs the server when this process is root
START_TIMEOUT_S = 60
LOG_TAIL_CHARS = 3000

# run by the watchdog: wait for EOF on stdin (the starting process closed the pipe or died),
# then run the stop command given as arguments and remove the folder
_WATCHDOG = """\
import shutil, subprocess, sys
sys.stdin.buffer.read()
subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL, check=False, timeout=120)
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


def _version_key(path: Path) -> tuple[int, ...]:
    """Sort key of a ``/usr/lib/postgresql/<version>/bin`` folder: ``15`` before ``16``."""
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def _free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_root() -> bool:
    return os.geteuid() == 0


class PostgresServer:
    """One PostgreSQL server in a temporary folder, on 127.0.0.1, for the tests of one run.

    Use it as a context manager, or call :meth:`start` and :meth:`close`::

        with PostgresServer() as server:
            url = server.new_schema_url()  # postgresql://shop@127.0.0.1:PORT/t_1

    Attributes:
        port: The TCP port the server listens on (0 until :meth:`start`).
        directory: The temporary folder: ``data/`` (the cluster), ``log``, and the Unix socket
            (``None`` until :meth:`start`, and again after :meth:`close`).
    """

    def __init__(self, base_dir: str | os.PathLike[str] | None = None) -> None:
        """Prepare a server; nothing runs until :meth:`start`.

        Args:
            base_dir: Where the temporary folder is made (default: :func:`tempfile.gettempdir`).
                As root it must be reachable by the ``postgres`` OS user.
        """
        self.base_dir = base_dir
        self.port = 0
        self.directory: Path | None = None
        self._bin: Path | None = None
        self._owner_pid = os.getpid()
        self._databases = itertools.count(1)
        self._lock = threading.Lock()
        self._watchdog: subprocess.Popen[bytes] | None = None

    # -- discovery ------------------------------------------------------------------------------

    @staticmethod
    def bin_dir() -> Path | None:
        """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``pg_ctl``.

        Returns:
            The folder, or ``None`` when no installed version has both binaries.
        """
        found = [
            b
            for b in PG_ROOT.glob("*/bin")
            if (b / "initdb").is_file() and (b / "pg_ctl").is_file() and _version_key(b)
        ]
        return max(found, key=_version_key) if found else None

    @classmethod
    def available(cls) -> bool:
        """Whether a server can be started here.

        Returns:
            ``True`` when ``initdb`` and ``pg_ctl`` are installed (and, as root, the
            ``postgres`` OS user and ``runuser`` exist to run them).
        """
        if cls.bin_dir() is None:
            return False
        if _as_root():
            try:
                pwd.getpwnam(OS_USER)
            except KeyError:
                return False
            return shutil.which("runuser") is not None
        return True

    # -- properties -----------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder (``<directory>/data``).

        Raises:
            RuntimeError: The server was never started, or is closed.
        """
        if self.directory is None:
            raise RuntimeError("the PostgreSQL server is not started (or already closed)")
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        """The server's log file (``<directory>/log``)."""
        return self.data_dir.parent / "log"

    @property
    def running(self) -> bool:
        """Whether the server is up: its ``postmaster.pid`` names a live process."""
        if self.directory is None:
            return False
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # alive, owned by another user
        return True

    def url(self, dbname: str = USER) -> str:
        """The connection URL of a database of this server.

        Args:
            dbname: The database (default ``shop``; the server starts with ``postgres`` and the
                templates only: ``shop`` exists only once a test creates it).

        Returns:
            ``postgresql://shop@127.0.0.1:PORT/<dbname>``.
        """
        if not self.port:
            raise RuntimeError("the PostgreSQL server is not started")
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create a cluster in a new temporary folder and start the server on a free port.

        Returns:
            This server, started.

        Raises:
            RuntimeError: The binaries are missing, already started, or ``initdb`` or
                ``pg_ctl start`` failed (the message carries their output and the log's tail).
        """
        if self.directory is not None:
            raise RuntimeError(f"this PostgreSQL server is already started in {self.directory}")
        bin_dir = self.bin_dir()
        if bin_dir is None or not self.available():
            raise RuntimeError(
                f"cannot start PostgreSQL: no initdb/pg_ctl in {PG_ROOT}/*/bin"
                + (f" or no '{OS_USER}' OS user and runuser to run them as root" if bin_dir else "")
                + " (apt-get install postgresql)"
            )
        self._bin = bin_dir
        self._owner_pid = os.getpid()
        self.directory = Path(tempfile.mkdtemp(prefix="recsys-pg-", dir=self.base_dir))
        atexit.register(self._close_at_exit)
        try:
            if _as_root():
                shutil.chown(self.directory, user=OS_USER)
            self._start_watchdog()
            self._run(
                "initdb",
                [
                    *("-D", str(self.data_dir), "-A", "trust", "-U", USER),
                    *("--no-sync", "-E", "UTF8", "--locale=C"),
                ],
                timeout=120,
            )
            for attempt in range(3):
                self.port = _free_port()
                try:
                    self._pg_ctl_start()
                    break
                except RuntimeError:
                    # another process took the port between _free_port and the bind: try again
                    if attempt == 2 or "already in use" not in self._log_tail():
                        raise
        except BaseException:
            self.close()
            raise
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and wait until it is down; the data folder stays.

        Args:
            mode: ``pg_ctl stop -m``: ``smart`` (wait for clients), ``fast`` (disconnect them,
                clean shutdown) or ``immediate`` (no shutdown checkpoint, like a crash: the next
                start replays the WAL).

        Raises:
            RuntimeError: ``pg_ctl stop`` failed.
        """
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown pg_ctl stop mode {mode!r}: smart, fast or immediate")
        self._run("pg_ctl", ["-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    def start_again(self) -> None:
        """Start the stopped server again: the same data folder, the same port.

        Raises:
            RuntimeError: Never started, closed, still running, or ``pg_ctl start`` failed.
        """
        if self.directory is None or not self.port:
            raise RuntimeError("start_again: the PostgreSQL server was never started, or closed")
        if self.running:
            raise RuntimeError("start_again: the PostgreSQL server is still running")
        self._pg_ctl_start()

    def close(self) -> None:
        """Stop the server (``immediate``: its data is thrown away) and remove its folder.

        Safe to call more than once, and on a server that never started.
        """
        with self._lock:
            directory, self.directory = self.directory, None
        if directory is None:
            return
        try:
            if (directory / "data" / "postmaster.pid").exists():
                stop = ["-D", str(directory / "data"), "-m", "immediate", "-w", "stop"]
                with contextlib.suppress(RuntimeError, subprocess.SubprocessError, OSError):
                    self._run("pg_ctl", stop, cwd=directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
            self._stop_watchdog()
            atexit.unregister(self._close_at_exit)

    def __enter__(self) -> PostgresServer:
        """Start the server (see :meth:`start`)."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the server (see :meth:`close`)."""
        self.close()

    # -- databases ------------------------------------------------------------------------------

    def new_schema_url(self) -> str:
        """Create a fresh, empty database and return its URL.

        Each test gets its own database (``t_1``, ``t_2``, ...), so no test sees another's
        tables. ``CREATE DATABASE`` copies ``template1``: about 30-50 ms here.

        Returns:
            ``postgresql://shop@127.0.0.1:PORT/t_<n>``.
        """
        import psycopg

        name = f"t_{next(self._databases)}"
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    # -- helpers --------------------------------------------------------------------------------

    def _command(self, binary: str, args: list[str]) -> list[str]:
        """The command line of a server binary, through ``runuser`` when this process is root."""
        assert self._bin is not None
        command = [str(self._bin / binary), *args]
        return ["runuser", "-u", OS_USER, "--", *command] if _as_root() else command

    def _run(
        self,
        binary: str,
        args: list[str],
        timeout: float = START_TIMEOUT_S + 30,
        cwd: Path | None = None,
    ) -> None:
        """Run a server binary in the temporary folder; raise with its output if it fails."""
        command = self._command(binary, args)
        try:
            done = subprocess.run(
                command,
                cwd=cwd or self.directory,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(
                f"{shlex.join(command)} took over {timeout} s; server log:\n{self._log_tail()}"
            ) from e
        if done.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(command)} failed (exit {done.returncode}):\n"
                f"{(done.stdout + done.stderr).strip()}\nserver log:\n{self._log_tail()}"
            )

    def _pg_ctl_start(self) -> None:
        """``pg_ctl start`` on ``self.port``, waiting until the server accepts connections."""
        assert self.directory is not None
        options = (
            f"-p {self.port} -k {shlex.quote(str(self.directory))} -c listen_addresses=127.0.0.1"
        )
        self._run(
            "pg_ctl",
            [
                *("-D", str(self.data_dir), "-o", options, "-l", str(self.log_path)),
                *("-w", "-t", str(START_TIMEOUT_S), "start"),
            ],
        )

    def _log_tail(self) -> str:
        """The end of the server's log ('(no log)' when there is none yet)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, RuntimeError):
            return "(no log)"
        return text[-LOG_TAIL_CHARS:] or "(empty log)"

    def _start_watchdog(self) -> None:
        """Start the process that cleans up if this one dies without calling :meth:`close`."""
        assert self.directory is not None
        stop = self._command("pg_ctl", ["-D", str(self.data_dir), "-m", "immediate", "stop"])
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.directory), *stop],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,  # Ctrl-C in the terminal reaches the tests, not the watchdog
        )

    def _stop_watchdog(self) -> None:
        """End the watchdog: :meth:`close` has done its work already."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        with contextlib.suppress(OSError):
            watchdog.kill()
        with contextlib.suppress(OSError):
            watchdog.wait(timeout=10)
        if watchdog.stdin is not None:
            with contextlib.suppress(OSError):
                watchdog.stdin.close()

    def _close_at_exit(self) -> None:
        """The ``atexit`` hook: close the server, but only in the process that started it."""
        if os.getpid() == self._owner_pid:
            self.close()
