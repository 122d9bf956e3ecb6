from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.payments.fx.base import FxUnavailable
from apps.payments.fx.ecb import SHIPPED_FILE, EcbParseError, ecb_xml_parse
from apps.payments.fx.services import (
    fx_lock_get,
    fx_rate,
    fx_rate_lock,
    fx_rates_refresh,
    fx_table,
    fx_table_reset,
)
from apps.payments.routing import InvalidPaymentRequest, route
from tests.payments.conftest import make_request, set_rail

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


ETH = {"eth_address": "0x52908400098527886E0F7030069857D2E4169EE7"}


def _usd_to_ars():
    return make_request(
        amount=Decimal("100.00"),
        currency="USD",
        payee_currency="ARS",
        payer_country="US",
        payee_country="AR",
        payee_identifiers=ETH,
    )


def _supplementary(tmp_path, settings, rates: dict) -> None:
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"rates": rates}))
    settings.PAYMENTS_FX_SUPPLEMENTARY_FILE = str(path)
    fx_table_reset()


@pytest.mark.django_db
def test_usdc_offers_no_ars_or_cop_payouts_without_a_rate_source(rails):
    # the capabilities say what can really be paid
    assert not {"ARS", "COP"} & rails.rails["usdc"].payee_currencies
    with pytest.raises(InvalidPaymentRequest) as err:
        route(_usd_to_ars(), kyc_tier="full")
    assert err.value.errors == {"payee_currency": ["Unsupported currency ARS."]}


@pytest.mark.django_db
def test_supplementary_rates_let_an_operator_pay_out_in_ars(rails, tmp_path, settings):
    # given an operator's file with an ARS rate older than the ECB day, and ARS back on USDC
    settings.PAYMENTS_FX_SUPPLEMENTARY_MAX_AGE_HOURS = 24 * 365
    as_of = "2026-11-20T15:00:00-03:00"
    _supplementary(
        tmp_path,
        settings,
        {
            "ARS": {"per_eur": "1500.00", "as_of": as_of, "source": "BCRA A 3500"},
            "USD": {"per_eur": "9.99", "as_of": as_of, "source": "ignored: the ECB publishes USD"},
        },
    )
    set_rail("usdc", payee_currencies=["USD", "USDC", "BRL", "MXN", "EUR", "ARS"])
    # when
    decision = route(_usd_to_ars(), kyc_tier="full")
    # then USDC carries it, converted through EUR at the file's rate, dated by the older rate
    table = fx_table()
    assert table.per_eur("ARS") == Decimal("1500.00") and table.per_eur("USD") != Decimal("9.99")
    quote = decision.selected.quote
    assert decision.selected.rail == "usdc"
    assert (
        quote.fx_rate
        == fx_rate("USD", "ARS")
        == (Decimal("1500.00") / table.per_eur("USD")).quantize(Decimal("0.0000000001"))
    )
    assert quote.fx_as_of == datetime.fromisoformat(as_of).isoformat()


@pytest.mark.django_db
def test_stale_or_unreadable_supplementary_rates_are_left_out(rails, tmp_path, settings):
    # a rate older than PAYMENTS_FX_SUPPLEMENTARY_MAX_AGE_HOURS (48 h) is not used
    stale = (timezone.now() - timedelta(hours=49)).isoformat()
    fresh = (timezone.now() - timedelta(hours=1)).isoformat()
    _supplementary(
        tmp_path,
        settings,
        {"ARS": {"per_eur": "1500", "as_of": stale}, "COP": {"per_eur": "4800", "as_of": fresh}},
    )
    assert "ARS" not in fx_table().rates and fx_table().per_eur("COP") == Decimal("4800")
    # a broken file leaves the ECB table working
    (tmp_path / "rates.json").write_text("{not json")
    fx_table_reset()
    assert "COP" not in fx_table().rates and fx_table().per_eur("USD") > 0
