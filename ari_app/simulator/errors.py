"""The HTTP error answers the simulated PBX gives, in Asterisk's status codes and bodies."""

from __future__ import annotations

from typing import Any


class AriError(Exception):
    """An HTTP error answer, in Asterisk's status and body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body

    @classmethod
    def message(cls, status: int, text: str) -> AriError:
        return cls(status, {"message": text})

    @classmethod
    def allocation_failed(cls) -> AriError:
        return cls(500, {"error": "Allocation failed"})
