"""Fixtures for the browser tests: they live in browserkit.py."""

from browserkit import browser, chromium_path, host_site, stack, stack_overrides, watched

__all__ = ["browser", "chromium_path", "host_site", "stack", "stack_overrides", "watched"]
