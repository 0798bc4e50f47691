"""optlab.ui.forms."""
