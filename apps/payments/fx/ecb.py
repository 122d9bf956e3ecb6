"""The ECB euro foreign exchange reference rates (``eurofxref-daily.xml``)."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from defusedxml import ElementTree

from apps.payments.fx.base import FxProvider, FxUnavailable, RateTable

ECB_NS = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
SHIPPED_FILE = Path(__file__).resolve().parent.parent / "data" / "eurofxref-daily.xml"
# The ECB publishes the reference rates at around 16:00 CET on TARGET working days.
_PUBLISH_TIME = time(16, 0)
_FRANKFURT = ZoneInfo("Europe/Berlin")


class EcbParseError(FxUnavailable):
    """The document is not an ECB eurofxref file."""


def ecb_xml_parse(content: bytes | str, *, source: str = "ecb") -> RateTable:
    """Parse the ECB daily (or the newest day of a history) file into a ``RateTable``."""
    try:
        root = ElementTree.fromstring(content)
    except Exception as exc:
        raise EcbParseError(f"Not XML: {exc}") from exc
    day = None
    for cube in root.iter(f"{{{ECB_NS}}}Cube"):
        if cube.get("time"):
            day = cube
            break
    if day is None:
        raise EcbParseError("No <Cube time=...> element in the ECB document.")
    try:
        as_of_date = datetime.strptime(str(day.get("time")), "%Y-%m-%d").date()
    except ValueError as exc:
        raise EcbParseError(f"Bad ECB date {day.get('time')!r}.") from exc
    rates: dict[str, Decimal] = {}
    for cube in day.iter(f"{{{ECB_NS}}}Cube"):
        currency, rate = cube.get("currency"), cube.get("rate")
        if not currency or not rate:
            continue
        try:
            value = Decimal(rate)
        except InvalidOperation as exc:
            raise EcbParseError(f"Bad rate {rate!r} for {currency}.") from exc
        if value <= 0:
            raise EcbParseError(f"Non-positive rate for {currency}.")
        rates[currency.upper()] = value
    if not rates:
        raise EcbParseError("The ECB document lists no rates.")
    as_of = datetime.combine(as_of_date, _PUBLISH_TIME, tzinfo=_FRANKFURT)
    return RateTable(as_of=as_of, rates=rates, source=source)


class EcbFileProvider(FxProvider):
    """Rates from an ECB XML file on disk (the copy shipped in the repo by default)."""

    name = "ecb_file"

    def __init__(self, path: Path = SHIPPED_FILE) -> None:
        self.path = path
        self._table: RateTable | None = None

    def table(self) -> RateTable:
        if self._table is None:
            self._table = ecb_xml_parse(self.path.read_bytes(), source="ecb_file")
        return self._table
