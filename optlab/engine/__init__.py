"""optlab.engine.experiment."""
