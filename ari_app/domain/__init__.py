"""Pure rules: no I/O, no network, no database; time is passed in."""
