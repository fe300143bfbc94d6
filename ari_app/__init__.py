"""callback: a self-hosted "request a callback" service for Asterisk (module B-006)."""

__version__ = "0.1.0"
