"""The API's JSON renderer (``apps.core.renderers.JSONRenderer``) writes what DRF's writes."""

from __future__ import annotations

import datetime
import decimal
import uuid
import zoneinfo
from collections import OrderedDict

import orjson
import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from apps.core.renderers import JSONRenderer

SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")

VALUES = [
    {"amount": decimal.Decimal("1234.5000"), "currency": "BRL"},
    {"at": datetime.datetime(2026, 12, 4, 1, 2, 3, tzinfo=datetime.UTC)},
    {"at": datetime.datetime(2026, 12, 4, 1, 2, 3, 120, tzinfo=datetime.UTC)},
    {"at": datetime.datetime(2026, 12, 4, 1, 2, 3, 5, tzinfo=SAO_PAULO)},
    {"at": datetime.datetime(2026, 12, 4, 1, 2, 3)},  # naive
    {"on": datetime.date(2026, 12, 4), "t": datetime.time(9, 30, 0, 15)},
    {"took": datetime.timedelta(seconds=90, microseconds=5)},
    {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    {"label": gettext_lazy("Payments")},
    {"text": 'ação, acción, 支付, "quoted" \\ back\nslash\t\u0001'},
    {"separators": "\u2028 and \u2029"},
    {1: "int key", None: "none key", False: "bool key", 2.5: "float key"},
    {"nested": [{"a": [1, 2, {"b": None}]}, [], {}], "flags": [True, False]},
    {"set": {3}, "tuple": (1, 2), "bytes": b"raw"},
    OrderedDict([("z", 1), ("a", 2)]),
    ReturnDict({"x": ReturnList([1, 2], serializer=None)}, serializer=None),  # type: ignore[call-overload, arg-type]
    ["top", "level", 1, 2.5],
    {"big": 2**63 - 1, "negative": -(2**63), "float": 0.1},
]


@pytest.mark.parametrize("data", VALUES)
def test_bytes_equal_drfs(data):
    assert JSONRenderer().render(data) == renderers.JSONRenderer().render(data)


def test_an_integer_beyond_64_bits_goes_through_drfs_renderer():
    data = {
        "huge": 2**70,
        "amount": decimal.Decimal("1.10"),
    }  # DRF's encoder writes a bare Decimal as a float
    assert JSONRenderer().render(data) == renderers.JSONRenderer().render(data)
    assert JSONRenderer().render(data) == b'{"huge":1180591620717411303424,"amount":1.1}'


def test_a_fragment_is_written_as_it_is():
    data = {"id": 1, "breakdown": orjson.Fragment(b'{"fee": "1.50", "fx": [5.12]}'), "none": None}
    assert JSONRenderer().render(data) == b'{"id":1,"breakdown":{"fee": "1.50", "fx": [5.12]},"none":null}'
    assert JSONRenderer.json_fragments is True


def test_an_indent_asked_for_gives_an_indented_document():
    out = JSONRenderer().render({"a": [1]}, "application/json; indent=4")
    assert out == b'{\n  "a": [\n    1\n  ]\n}'
    assert orjson.loads(out) == {"a": [1]}
    assert JSONRenderer().render({"a": 1}, "text/html", {"indent": 4}).startswith(b"{\n")  # the browsable API


def test_none_renders_as_an_empty_body_and_unknown_types_fail_as_with_drf():
    assert JSONRenderer().render(None) == b""
    with pytest.raises(TypeError):
        JSONRenderer().render({"x": object()})
    with pytest.raises(TypeError):
        renderers.JSONRenderer().render({"x": object()})


def test_the_api_answers_with_it(auth_client):
    response = auth_client.get("/api/v1/me")
    assert response.status_code == 200
    assert isinstance(response.accepted_renderer, JSONRenderer)
    assert response.content == renderers.JSONRenderer().render(response.data)
