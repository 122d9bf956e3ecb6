from __future__ import annotations

from decimal import Decimal

from apps.payments.rails.pix.brcode import brcode_build, brcode_verify, crc16_ccitt

# Static example from the BCB "Manual de Padrões para Iniciação do Pix" (appendix), CRC 1D3D.
BCB_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


def test_crc16_ccitt_false_check_value():
    # the standard check value of CRC-16/CCITT-FALSE over "123456789"
    assert crc16_ccitt(b"123456789") == 0x29B1


def test_matches_the_bcb_manual_example():
    built = brcode_build(
        pix_key="123e4567-e12b-12d1-a456-426655440000",
        merchant_name="Fulano de Tal",
        merchant_city="BRASILIA",
    )
    assert built == BCB_EXAMPLE
    assert brcode_verify(BCB_EXAMPLE)


def test_dynamic_amount_and_accents():
    emv = brcode_build(
        pix_key="joao@example.com",
        merchant_name="João da Conceição",
        merchant_city="São Paulo",
        amount=Decimal("50"),
        txid="abc-123",
        single_use=True,
    )
    assert "010212" in emv and "540550.00" in emv and "5917Joao da Conceicao" in emv
    assert "6009Sao Paulo" in emv and "62100506abc123" in emv
    assert brcode_verify(emv)
    assert not brcode_verify(emv[:-1] + ("0" if emv[-1] != "0" else "1"))
