"""Operating an installation: the readiness report (``callback check``) and the Prometheus metrics."""
