"""The API's JSON renderer: DRF's output, encoded by orjson.

DRF's ``JSONRenderer`` runs ``json.dumps`` with its ``JSONEncoder``; for a 20-row page that was
about a tenth of the request's CPU (the pure-Python encoder plus DRF's ``default`` per value).
``JSONRenderer`` here writes the same document with orjson (C) and hands orjson the types it does
not know (``Decimal``, lazy translations, querysets, ``timedelta``, sets…) through DRF's own
``JSONEncoder.default``, so each value is written as DRF writes it:

- compact separators, UTF-8 without ``\\u`` escapes, ``\\u2028`` / ``\\u2029`` escaped (DRF's
  defaults: ``COMPACT_JSON``, ``UNICODE_JSON``, its JavaScript-safety replacement);
- datetimes as ``isoformat()`` with ``+00:00`` written ``Z`` (orjson's ``OPT_UTC_Z``);
- non-string keys as strings (``OPT_NON_STR_KEYS``), as ``json.dumps`` does;
- a requested indent (``Accept: application/json; indent=4``, the browsable API) gives orjson's
  two-space indentation;
- an integer beyond 64 bits, which orjson refuses, makes the document go through DRF's
  renderer instead.

It also writes ``orjson.Fragment`` values — JSON text inserted as it is — which lets a list read
from PostgreSQL pass its ``jsonb`` columns through without decoding and re-encoding them
(``apps.core.fastserializers``: the page asks ``json_fragments`` of the renderer DRF chose).
Two differences from DRF's renderer, both at the edges: a float NaN or infinity is written
``null`` where DRF refuses (money is ``Decimal`` here, never float), and float exponents are
spelt as orjson spells them (``0.00001`` for ``1e-05``: the same number).

``tests/core/test_renderers.py`` compares the bytes with DRF's for every kind of value.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_default = JSONEncoder().default


class JSONRenderer(renderers.JSONRenderer):
    # With DRF's non-default JSON settings (``COMPACT_JSON``/``UNICODE_JSON``/``STRICT_JSON``
    # turned off) the output is DRF's own, and no list hands this renderer fragments.
    json_fragments = renderers.JSONRenderer.compact and not renderers.JSONRenderer.ensure_ascii

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if data is None:
            return b""
        if not self.json_fragments:
            return super().render(data, accepted_media_type, renderer_context)  # type: ignore[no-any-return]
        options = _OPTIONS
        if self.get_indent(accepted_media_type or "", renderer_context or {}) is not None:
            options |= orjson.OPT_INDENT_2
        try:
            out = orjson.dumps(data, default=_default, option=options)
        except orjson.JSONEncodeError as exc:
            if "64-bit" not in str(exc):
                raise
            return super().render(data, accepted_media_type, renderer_context)  # type: ignore[no-any-return]
        if b"\xe2\x80\xa8" in out or b"\xe2\x80\xa9" in out:
            out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return out
