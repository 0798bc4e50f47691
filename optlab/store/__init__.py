"""The run store: SQLite experiments and records (:class:`optlab.store.db.Store`), export."""
