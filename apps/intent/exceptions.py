from __future__ import annotations

from typing import Any

from apps.core.exceptions import ApplicationError


class InvalidText(ApplicationError):
    code = "invalid_text"
    message = "The text cannot be analysed."


class EmptyText(InvalidText):
    code = "empty_text"
    message = "The text is empty."


class TextTooLong(InvalidText):
    code = "text_too_long"
    message = "The text is longer than the limit."

    def __init__(self, message: str | None = None, *, max_bytes: int | None = None, **kwargs: Any) -> None:
        if message is None and max_bytes is not None:
            message = f"The text is longer than the limit ({max_bytes:,} bytes of UTF-8)."
        extra = {**kwargs.pop("extra", {}), **({"max_bytes": max_bytes} if max_bytes is not None else {})}
        super().__init__(message, extra=extra, **kwargs)


class BinaryText(InvalidText):
    code = "text_not_readable"
    message = "The text looks like binary data, not a message."
