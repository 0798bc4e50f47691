"""optlab.ui.state."""
