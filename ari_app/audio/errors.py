"""What can go wrong with a sound: each error says what the user did and what would work instead."""

from __future__ import annotations

from ..errors import CallbackError, Forbidden, ValidationFailed


class AudioError(ValidationFailed):
    """The file given for import cannot become a prompt."""

    error_id = "audio-invalid"


class NotAudio(AudioError):
    error_id = "audio-not-audio"


class EmptyAudio(AudioError):
    error_id = "audio-empty"


class TooLong(AudioError):
    error_id = "audio-too-long"


class CorruptAudio(AudioError):
    error_id = "audio-corrupt"


class BadSoundName(AudioError):
    error_id = "audio-bad-name"


class AudioToolMissing(CallbackError):
    """ffmpeg is not installed: an operator problem, not the user's file."""

    error_id = "audio-tool-missing"


class MediaLinkInvalid(Forbidden):
    """A ``/media/…`` URL whose signature is wrong, malformed or expired."""

    error_id = "media-link-invalid"
