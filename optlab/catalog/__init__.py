"""optlab.catalog."""
