"""Fair turns at the SQLite store's write lock: writers are served about in the order they came.

SQLite serializes writers with one lock per database file. A writer that finds it taken sleeps
in steps that grow to 100 ms (SQLite's busy handler) and tries again; meanwhile the process
that holds it hands it from one of its threads to the next. Under a steady stream of event
batches from two API workers, one worker then wrote several batches in a row while a batch of
the other waited, and the slowest batches took about twice as long as the median
(``benchmarks/README.md``, issue 20). A writer now waits its turn twice, both times in line:

- in its process, behind the threads that asked before it (:class:`FairLock`);
- across processes, for an ``flock`` on a file beside the database (:class:`FileTurn`). A
  process waiting for it sleeps in the kernel and is woken when it is released, so the other
  process's next writer, which must first get its own process's turn, seldom takes it again
  first.

Both waits end at the writer's deadline (``write_timeout_s``): the store then answers
:class:`~recsys.errors.StoreBusyError` as before. A process that dies releases its ``flock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections import deque
from pathlib import Path


class FairLock:
    """A re-entrant lock that hands itself to waiting threads in the order they asked.

    ``threading.Lock`` and ``RLock`` wake a waiting thread in no particular order, and the
    thread that just released may take the lock again before a woken one runs.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock, after the threads already waiting; False when ``timeout`` ran out."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._waiting:
                self._owner, self._depth = me, 1
                return True
            if not blocking:
                return False
            gate = threading.Lock()
            gate.acquire()
            self._waiting.append(gate)
        if gate.acquire(timeout=timeout):
            self._owner, self._depth = me, 1  # handed over by release()
            return True
        with self._mutex:
            if gate in self._waiting:  # still in line: leave it
                self._waiting.remove(gate)
                return False
        gate.acquire()  # released to this thread while its wait ran out: it is the owner now
        self._owner, self._depth = me, 1
        return True

    @property
    def waiting(self) -> int:
        """Threads in line for the lock now."""
        return len(self._waiting)

    def release(self) -> None:
        """Release one level; the last hands the lock to the thread that has waited longest."""
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a FairLock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._waiting:
                self._owner = -1  # taken: nobody can jump the line before the next one runs
                self._waiting.popleft().release()
            else:
                self._owner = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Wait:
    """A blocking ``flock`` on a file of its own, in a helper thread, that a caller may give up.

    The lock is the caller's when it gets it while a caller still wants it; otherwise the helper
    lets go of it at once. A later caller may want it again (:meth:`FileTurn.acquire` keeps one
    such wait per process, so a process whose writes keep giving up starts no more threads).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._mutex = threading.Lock()
        self._got = threading.Event()
        self._wanted = True
        self.over = False  # the helper let go of the lock (or never got it): wait anew
        threading.Thread(target=self._run, name="recsys-write-turn", daemon=True).start()

    def _run(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # sleeps in the kernel until released
        except OSError:
            with self._mutex:
                self.over = True
            os.close(self.fd)
            return
        with self._mutex:
            if self._wanted:
                self._got.set()
                return
            self.over = True
        os.close(self.fd)  # closing the file lets go of its lock

    def wait(self, timeout: float) -> bool | None:
        """True: the lock is the caller's; False: not within ``timeout``; None: wait anew."""
        with self._mutex:
            if self.over:
                return None
            self._wanted = True
        if self._got.wait(timeout):
            return True
        with self._mutex:
            if self._got.is_set():
                return True
            self._wanted = False
        return False


class FileTurn:
    """An exclusive ``flock`` on ``path``, waited for until a deadline.

    Call it from one thread at a time (the store holds its :class:`FairLock` around it). A wait
    runs in a helper thread, so that it can end at the deadline; a wait given up there goes on
    and lets go of the lock as soon as it gets it, unless the next writer of this process takes
    it over. The lock belongs to the open file, so each wait opens the file anew.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._waiting: _Wait | None = None  # a wait given up at its deadline, still going on

    def acquire(self, timeout: float) -> bool:
        """Take the lock; False when another process held it for ``timeout`` seconds."""
        wait = self._waiting
        if wait is not None:
            got = wait.wait(timeout)
            if got is None:  # it ended: start anew
                self._waiting = None
            elif got:
                self._waiting, self._fd = None, wait.fd
                return True
            else:
                return False
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            wait = _Wait(fd)
            if wait.wait(timeout):
                self._fd = wait.fd
                return True
            self._waiting = wait
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Let go of the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
