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


class FileTurn:
    """An exclusive ``flock`` on ``path``, waited for until a deadline.

    Call it from one thread at a time (the store holds its :class:`FairLock` around it). The
    lock belongs to the open file, so each wait opens the file anew: a wait given up at the
    deadline goes on in a helper thread and lets go of the lock as soon as it gets it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, timeout: float) -> bool:
        """Take the lock; False when another process held it for ``timeout`` seconds."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not self._wait(fd, timeout):
                return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def _wait(self, fd: int, timeout: float) -> bool:
        got, state = threading.Event(), {"given_up": False}
        mutex = threading.Lock()

        def wait() -> None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # sleeps in the kernel until released
            except OSError:
                os.close(fd)
                return
            with mutex:
                if state["given_up"]:
                    os.close(fd)  # closing the file lets go of its lock
                    return
                got.set()

        threading.Thread(target=wait, name="recsys-write-turn", daemon=True).start()
        if got.wait(timeout):
            return True
        with mutex:
            if got.is_set():
                return True
            state["given_up"] = True
        return False

    def release(self) -> None:
        """Let go of the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
