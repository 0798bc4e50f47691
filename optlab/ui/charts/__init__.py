"""optlab.ui.charts."""
