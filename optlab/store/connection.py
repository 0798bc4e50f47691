"""The run store's SQLite file: one connection per thread, WAL mode, write transactions.

The database is in WAL mode so readers (the UI) never wait for a writer;
writers (the job manager, ``optlab run``) wait for each other through
``busy_timeout`` and take the write lock up front with ``BEGIN IMMEDIATE``.
A store may be shared by threads: each thread gets its own connection, and the
connections of threads that have ended are closed.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from optlab import paths
from optlab.store.schema import migrate, needs_migration
from optlab.store.values import UnknownExperiment

BUSY_TIMEOUT_MS = 30_000


class Connections:
    """The SQLite file at ``path`` (default ``$OPTLAB_HOME/optlab.db``), migrated when opened.

    The base of :class:`~optlab.store.db.Store`: connections, transactions and the
    experiment id -> row key map that reads and writes share.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._pks: dict[str, int] = {}
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        conn = self.conn
        if needs_migration(conn):
            migrate(conn)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; writes go through :meth:`_tx`)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:  # threads come and go (a Streamlit rerun): close their connections
                alive = []
                for thread, other in self._all:
                    if thread.is_alive():
                        alive.append((thread, other))
                    else:
                        with contextlib.suppress(sqlite3.Error):
                            other.close()
                self._all = [*alive, (threading.current_thread(), conn)]
        return conn

    def _connect(self) -> sqlite3.Connection:
        """A new connection to the file (autocommit, WAL, foreign keys, busy timeout)."""
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``BEGIN IMMEDIATE`` takes the write lock up front."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for _, conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    def pk(self, exp_id: str) -> int:
        pk = self._pks.get(exp_id)
        if pk is None:
            row = self.conn.execute("SELECT pk FROM experiments WHERE id = ?", (exp_id,)).fetchone()
            if row is None:
                raise UnknownExperiment(exp_id)
            pk = self._pks[exp_id] = int(row[0])
        return pk
