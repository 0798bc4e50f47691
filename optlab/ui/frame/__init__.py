"""optlab.ui.frame."""
