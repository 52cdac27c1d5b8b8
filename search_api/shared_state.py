"""A SQLite file that every server worker process on the machine opens (WAL mode): the home of the state
that must not differ between workers (conversations, /ask rate-limit budgets)."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path


class SharedDB:
    def __init__(self, path: Path, schema: tuple[str, ...]):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection per process, used by one thread at a time
        self._con = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")
        for statement in schema:
            self._con.execute(statement)

    @contextmanager
    def transaction(self):
        """A write transaction that holds the file's write lock from its start (BEGIN IMMEDIATE), so a
        read-modify-write is never interleaved with another process's."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def execute(self, sql: str, args: tuple = ()) -> list:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._con.close()
