"""optlab.export."""
