"""Which URI plays a named prompt, and how long it lasts (for whisper timeouts and "played whole")."""

from __future__ import annotations

from collections.abc import Callable, Mapping

# Used to bound waits when a prompt's length is unknown (not in the manifest, e.g. a PBX with its own files).
_ESTIMATE_SECONDS = 3.0

# The prompts the orchestrator plays (the lead's number in the whisper is spoken from digit-0 … digit-9).
PROMPTS = (
    "admin-whisper",
    "press-1",
    "lead-machine-admin",
    "voicemail-drop",
    "return-call-whisper",
    "inbound-call-whisper",
    "return-call-welcome",
    "return-call-message",
    *(f"digit-{d}" for d in range(10)),
)


class MediaCatalog:
    """``uri_for(name)`` gives the ``media`` to play: ``sound:callback/NAME`` when the prompts were copied
    into Asterisk's sounds directory, or a freshly signed ``sound:http…`` URL served by us."""

    def __init__(self, lengths: Mapping[str, float], uri_for: Callable[[str], str]) -> None:
        self._lengths = dict(lengths)
        self._uri_for = uri_for

    def uri(self, name: str) -> str:
        return self._uri_for(name)

    def known_length(self, name: str) -> float | None:
        """The prompt's real length from the manifest, or None when we don't know it."""
        return self._lengths.get(name)

    def missing(self) -> list[str]:
        return [name for name in PROMPTS if name not in self._lengths]

    def duration(self, name: str) -> float:
        """A length to bound waits with: the real one when known, an estimate otherwise."""
        return self._lengths.get(name, _ESTIMATE_SECONDS)
