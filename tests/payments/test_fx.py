from __future__ import annotations

from decimal import Decimal

import pytest

from apps.payments.fx.base import FxUnavailable
from apps.payments.fx.ecb import SHIPPED_FILE, EcbParseError, ecb_xml_parse
from apps.payments.fx.services import fx_lock_get, fx_rate, fx_rate_lock, fx_rates_refresh, fx_table

# The first lines of an ECB eurofxref-daily.xml as published (format of https://www.ecb.europa.eu/stats/eurofxref/).
ECB_SAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
\t<gesmes:subject>Reference rates</gesmes:subject>
\t<gesmes:Sender>
\t\t<gesmes:name>European Central Bank</gesmes:name>
\t</gesmes:Sender>
\t<Cube>
\t\t<Cube time='2024-01-05'>
\t\t\t<Cube currency='USD' rate='1.0921'/>
\t\t\t<Cube currency='JPY' rate='158.30'/>
\t\t\t<Cube currency='BRL' rate='5.3507'/>
\t\t\t<Cube currency='GBP' rate='0.86100'/>
\t\t</Cube>
\t</Cube>
</gesmes:Envelope>"""


def test_parses_the_ecb_daily_format_with_timestamp():
    table = ecb_xml_parse(ECB_SAMPLE)
    assert table.rates == {
        "USD": Decimal("1.0921"),
        "JPY": Decimal("158.30"),
        "BRL": Decimal("5.3507"),
        "GBP": Decimal("0.86100"),
    }
    assert table.as_of.isoformat() == "2024-01-05T16:00:00+01:00"


def test_shipped_file_parses():
    table = ecb_xml_parse(SHIPPED_FILE.read_bytes())
    assert {"USD", "BRL", "AUD", "GBP"} <= set(table.rates)


@pytest.mark.parametrize("bad", [b"not xml", b"<a/>", ECB_SAMPLE.replace(b"rate='1.0921'", b"rate='abc'")])
def test_rejects_malformed_documents(bad):
    with pytest.raises(EcbParseError):
        ecb_xml_parse(bad)


@pytest.mark.django_db
def test_cross_rates_go_through_eur_and_locks_hold_the_rate():
    # given the sample as the newest snapshot
    fx_rates_refresh(content=ECB_SAMPLE)
    # then USD→BRL = BRL/EUR ÷ USD/EUR
    assert fx_rate("USD", "BRL") == (Decimal("5.3507") / Decimal("1.0921")).quantize(Decimal("0.0000000001"))
    assert fx_rate("EUR", "JPY") == Decimal("158.30")
    assert fx_rate("USDC", "USD") == Decimal(1)
    with pytest.raises(FxUnavailable):
        fx_rate("USD", "ARS")
    # when a rate is locked, a newer snapshot does not move it
    lock = fx_rate_lock(base="USD", quote="BRL")
    fx_rates_refresh(content=ECB_SAMPLE.replace(b"2024-01-05", b"2024-01-08").replace(b"5.3507", b"6.0000"))
    assert fx_table().rates["BRL"] == Decimal("6.0000")
    held = fx_lock_get(lock.id)
    assert held is not None and held.rate == lock.rate and held.as_of.date().isoformat() == "2024-01-05"


@pytest.mark.django_db
def test_refresh_fetches_the_configured_url(respx_mock=None):
    import respx
    from httpx import Response

    with respx.mock(assert_all_called=True) as mock:
        mock.get("https://fx.example.test/eurofxref-daily.xml").mock(
            return_value=Response(200, content=ECB_SAMPLE)
        )
        snap = fx_rates_refresh(url="https://fx.example.test/eurofxref-daily.xml")
    assert snap.rates["USD"] == "1.0921"
