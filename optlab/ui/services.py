"""The job manager and the run store, as the pages get them.

The manager is the process-wide singleton of :mod:`optlab.jobs.manager`, handed out through
``st.cache_resource`` (the real object lives at module level there, so the
"Clear cache" menu does not orphan running jobs).

Reads go through :class:`ReaderStore`: Streamlit runs every rerun (five a second
while a chart streams) in a fresh thread, and the store's one-connection-per-thread
scheme would then keep a SQLite connection (three file descriptors in WAL mode) per
rerun forever.  The reader reuses connections and closes those of finished threads.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from optlab import paths
from optlab.jobs import manager as jobs
from optlab.store.db import Store


class ReaderStore(Store):
    """A :class:`Store` whose connections are pooled across short-lived threads."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._pool_lock = threading.Lock()
        self._by_thread: dict[int, tuple[threading.Thread, sqlite3.Connection]] = {}
        super().__init__(path)

    @property
    def conn(self) -> sqlite3.Connection:
        me = threading.current_thread()
        with self._pool_lock:
            held = self._by_thread.get(me.ident or 0)
            if held is not None and held[0] is me:
                return held[1]
            spare = None
            for ident, (thread, conn) in list(self._by_thread.items()):
                if not thread.is_alive():
                    del self._by_thread[ident]
                    if spare is None:
                        spare = conn
                    else:
                        with contextlib.suppress(sqlite3.Error):
                            conn.close()
            conn = spare or self._connect()
            self._by_thread[me.ident or 0] = (me, conn)
            return conn

    def open_connections(self) -> int:
        with self._pool_lock:
            return len(self._by_thread)

    def close(self) -> None:
        with self._pool_lock:
            for _, conn in self._by_thread.values():
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._by_thread.clear()


@st.cache_resource(show_spinner=False)
def _manager() -> jobs.JobManager:
    return jobs.get_manager()


def manager() -> jobs.JobManager:
    """The job manager (started, with warm workers, on first use)."""
    m = _manager()
    if getattr(m, "_closed", False):  # shut down under us (tests, a reload): start anew
        _manager.clear()
        m = _manager()
    return m


_WARM = threading.Event()


def warm_up() -> None:
    """Start the manager and its workers in the background on the first page view.

    Importing torch and building a first optimizer takes seconds in a fresh worker;
    doing it while the user reads the page makes the first Run start at once.
    """
    if _WARM.is_set():
        return
    _WARM.set()
    threading.Thread(target=jobs.get_manager, name="optlab-warm-up", daemon=True).start()


_READERS: dict[str, ReaderStore] = {}
_READERS_LOCK = threading.Lock()


def store() -> ReaderStore:
    """The run store at ``$OPTLAB_HOME`` for reading (and renames, deletes)."""
    path = str(paths.db_path())
    with _READERS_LOCK:
        reader = _READERS.get(path)
        if reader is None:
            reader = _READERS[path] = ReaderStore(path)
        return reader


def experiment_or_none(exp_id: str) -> dict[str, Any] | None:
    """The stored experiment, or None when the id is unknown (a stale link)."""
    from optlab.store.db import UnknownExperiment

    try:
        return store().get_experiment(exp_id)
    except UnknownExperiment:
        return None
