"""optlab.jobs.manager."""
