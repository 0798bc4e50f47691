"""optlab.cli.main."""
