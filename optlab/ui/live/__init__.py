"""optlab.ui.live."""
