"""`callback demo`: everything embedded, and the standard stories (`--once`)."""
