from __future__ import annotations

from apps.core.exceptions import ApplicationError


class InvalidText(ApplicationError):
    code = "invalid_text"
    message = "The text cannot be analysed."


class EmptyText(InvalidText):
    code = "empty_text"
    message = "The text is empty."


class TextTooLong(InvalidText):
    code = "text_too_long"
    message = "The text is longer than the limit (100 KB)."


class BinaryText(InvalidText):
    code = "text_not_readable"
    message = "The text looks like binary data, not a message."
