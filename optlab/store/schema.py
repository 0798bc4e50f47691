"""Schema of the run store and its migrations (``PRAGMA user_version``).

``MIGRATIONS[i]`` upgrades a database from version ``i`` to ``i + 1``; a new
version appends a step (``ALTER TABLE …``, a backfill) and never edits an old one,
so any older store upgrades in order when it is opened.

Layout, chosen for the UI's reads:

- ``experiments`` has an integer ``pk`` (rows elsewhere reference it, 8 bytes
  instead of the text id) and the short public ``id`` used in URLs.
- ``steps`` is a ``WITHOUT ROWID`` table clustered on ``(exp, run, step)``: the
  tail of a run since step k and a decimated series are one range scan.
  ``lr`` is the learning rate of every parameter group as little-endian float64
  bytes (NaN for a group that has not joined yet), exact and compact.
  NaN losses are stored as NULL (SQLite has no NaN).
- version 2 adds nullable step columns: ``eval_x``/``eval_y``, the averaged point of
  optimizers with train/eval modes (Schedule-Free, SPlus), and ``effective_lr``, the lr
  each group's update really applied (float64 bytes like ``lr``) for optimizers that
  scale the group lr; NULL for other runs and in stores written before.
- version 3 adds sweeps (issue 10): ``experiments.kind`` (``experiment`` or ``sweep``) and
  ``trials_total``, and the ``trials`` table keyed by (experiment, trial index): one row
  per ended trial (finished, diverged or failed; a cancelled trial is not kept, so a
  resumed sweep runs it again), its axis values as JSON and its numbers, and for models
  the per-epoch records as JSON.
- version 4 adds the instruments' records (issue 12): for a run with ``record_state`` or
  ``record_sharpness``, one ``instruments`` row per record chunk and series (``key``:
  ``state.exp_avg``, ``update``, ``state_norms.<group>.<name>``, ``sharpness``, …), keyed by
  the chunk's first ``step``, with its ``n`` steps' values as little-endian float64 bytes
  (:mod:`optlab.store.instruments`); older stores simply have none.  Its first, unreleased
  form (one JSON row per step) is replaced by this table when a development store has it.
"""

from __future__ import annotations

import sqlite3

SCHEMA_V1 = """
CREATE TABLE experiments (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL DEFAULT '',
    spec        TEXT NOT NULL,
    spec_key    TEXT NOT NULL,
    status      TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    client      TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT 'ui',
    device      TEXT,
    versions    TEXT NOT NULL DEFAULT '{}',
    progress    REAL NOT NULL DEFAULT 0,
    created     REAL NOT NULL,
    started     REAL,
    finished    REAL,
    owner       TEXT NOT NULL DEFAULT '',
    owner_pid   INTEGER,
    owner_host  TEXT NOT NULL DEFAULT '',
    checkpoint_step INTEGER
);
CREATE INDEX experiments_created ON experiments (created);
CREATE INDEX experiments_status ON experiments (status);

CREATE TABLE runs (
    exp          INTEGER NOT NULL REFERENCES experiments (pk) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    label        TEXT NOT NULL,
    status       TEXT NOT NULL,
    message      TEXT NOT NULL DEFAULT '',
    diverged_at  INTEGER,
    final_loss   REAL,
    final_params TEXT,
    groups       TEXT NOT NULL DEFAULT '[]',
    steps_done   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (exp, idx)
);

CREATE TABLE steps (
    exp        INTEGER NOT NULL,
    run        INTEGER NOT NULL,
    step       INTEGER NOT NULL,
    loss       REAL,
    lr         BLOB NOT NULL,
    x          REAL,
    y          REAL,
    grad_norm  REAL,
    time       REAL,
    PRIMARY KEY (exp, run, step)
) WITHOUT ROWID;

CREATE TABLE epochs (
    exp        INTEGER NOT NULL,
    run        INTEGER NOT NULL,
    epoch      INTEGER NOT NULL,
    train_loss REAL,
    val_loss   REAL,
    val_acc    REAL,
    time       REAL,
    PRIMARY KEY (exp, run, epoch)
) WITHOUT ROWID;
"""


SCHEMA_V2 = """
ALTER TABLE steps ADD COLUMN eval_x REAL;
ALTER TABLE steps ADD COLUMN eval_y REAL;
ALTER TABLE steps ADD COLUMN effective_lr BLOB;
"""

SCHEMA_V3 = """
ALTER TABLE experiments ADD COLUMN kind TEXT NOT NULL DEFAULT 'experiment';
ALTER TABLE experiments ADD COLUMN trials_total INTEGER;
CREATE TABLE trials (
    exp          INTEGER NOT NULL REFERENCES experiments (pk) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    run          INTEGER NOT NULL,
    label        TEXT NOT NULL,
    axis_values  TEXT NOT NULL,
    seed         INTEGER NOT NULL,
    phase        TEXT NOT NULL,
    status       TEXT NOT NULL,
    diverged_at  INTEGER,
    final_loss   REAL,
    best_loss    REAL,
    steps_to_threshold INTEGER,
    final_params TEXT,
    val_acc      REAL,
    train_loss   REAL,
    epochs       TEXT,
    message      TEXT NOT NULL DEFAULT '',
    time         REAL NOT NULL,
    PRIMARY KEY (exp, idx)
) WITHOUT ROWID
"""

SCHEMA_V4 = """
CREATE TABLE instruments (
    exp        INTEGER NOT NULL,
    run        INTEGER NOT NULL,
    step       INTEGER NOT NULL,
    key        TEXT NOT NULL,
    n          INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (exp, run, step, key)
)
"""

#: SQL scripts, one per version step; statements are split on ";" (keep literals free of it)
MIGRATIONS: list[str] = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreVersionError(RuntimeError):
    """The database was written by a newer optlab."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; returns the version found.

    Runs under ``BEGIN EXCLUSIVE`` so two processes opening a new store at once
    do not both create the tables.
    """
    conn.execute("BEGIN EXCLUSIVE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise StoreVersionError(
                f"the run store has schema version {found}; this optlab reads up to "
                f"{SCHEMA_VERSION}: upgrade optlab or point OPTLAB_HOME elsewhere"
            )
        for version in range(found, SCHEMA_VERSION):
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
        _replace_unreleased_instruments(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def needs_migration(conn: sqlite3.Connection) -> bool:
    """An older version, or a development store with the unreleased instruments layout."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    return found != SCHEMA_VERSION or _unreleased_instruments(conn)


def _unreleased_instruments(conn: sqlite3.Connection) -> bool:
    """Schema 4's first form (one JSON row per step), on main for a day, never released."""
    columns = [r[1] for r in conn.execute("PRAGMA table_info(instruments)")]
    return bool(columns) and "key" not in columns


def _replace_unreleased_instruments(conn: sqlite3.Connection) -> None:
    """A development store from before the chunked layout gets today's empty table: its
    instrument rows could be neither written to nor read (its steps are kept)."""
    if _unreleased_instruments(conn):
        conn.execute("DROP TABLE instruments")
        for statement in _statements(SCHEMA_V4):
            conn.execute(statement)


def _statements(script: str) -> list[str]:
    """A script's statements: ``executescript`` would COMMIT our transaction first."""
    return [s.strip() for s in script.split(";") if s.strip()]
