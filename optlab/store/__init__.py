"""optlab.store.db."""
