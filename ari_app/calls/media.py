"""Which URI plays a named prompt, and how long it lasts (for whisper timeouts and "played whole")."""

from __future__ import annotations

from collections.abc import Mapping

# Lengths used when a prompt is not in the manifest (e.g. on a PBX with its own files).
_DEFAULT_SECONDS = 3.0
_DIGIT_SECONDS = 0.6


class MediaCatalog:
    def __init__(self, uris: Mapping[str, str], durations: Mapping[str, float]) -> None:
        self._uris = dict(uris)
        self._durations = dict(durations)
        self._by_uri = {uri: self._durations.get(name, _DEFAULT_SECONDS) for name, uri in self._uris.items()}

    @classmethod
    def copied(cls, prefix: str, durations: Mapping[str, float]) -> MediaCatalog:
        """Prompts copied into Asterisk's sounds directory, played as ``sound:PREFIX/NAME``."""
        return cls({name: f"sound:{prefix}/{name}" for name in durations}, durations)

    def uri(self, name: str) -> str:
        return self._uris.get(name) or f"sound:callback/{name}"

    def duration(self, name_or_uri: str) -> float:
        if name_or_uri in self._durations:
            return self._durations[name_or_uri]
        if name_or_uri in self._by_uri:
            return self._by_uri[name_or_uri]
        if name_or_uri.startswith("digits:"):
            return _DIGIT_SECONDS * len(name_or_uri) - _DIGIT_SECONDS * len("digits:")
        return _DEFAULT_SECONDS
