"""BR Code (EMV® QRCPS-MPM) "Pix copia e cola" payloads, per the BCB's
"Manual de Padrões para Iniciação do Pix": TLV fields and a CRC16-CCITT
(poly 0x1021, init 0xFFFF) checksum in field 63."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal


def crc16_ccitt(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"EMV field {tag} longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def _ascii(text: str, limit: int) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9 .\-]", "", plain).strip()[:limit] or "NA"


def brcode_build(
    *,
    pix_key: str,
    merchant_name: str,
    merchant_city: str,
    amount: Decimal | None = None,
    txid: str = "***",
    description: str = "",
    single_use: bool = False,
) -> str:
    """The "copia e cola" string for a static BR Code paying ``pix_key``."""
    account = _tlv("00", "br.gov.bcb.pix") + _tlv("01", pix_key)
    if description:
        account += _tlv("02", _ascii(description, 40))
    txid_clean = re.sub(r"[^A-Za-z0-9]", "", txid)[:25] or "***"
    payload = _tlv("00", "01")
    if single_use:
        payload += _tlv("01", "12")
    payload += _tlv("26", account) + _tlv("52", "0000") + _tlv("53", "986")
    if amount is not None:
        payload += _tlv("54", f"{amount.quantize(Decimal('0.01'))}")
    payload += (
        _tlv("58", "BR")
        + _tlv("59", _ascii(merchant_name, 25))
        + _tlv("60", _ascii(merchant_city, 15))
        + _tlv("62", _tlv("05", txid_clean))
        + "6304"
    )
    return payload + f"{crc16_ccitt(payload.encode()):04X}"


def brcode_verify(payload: str) -> bool:
    """True when the trailing CRC matches (what a bank app checks first)."""
    if len(payload) < 8 or payload[-8:-4] != "6304":
        return False
    return f"{crc16_ccitt(payload[:-4].encode()):04X}" == payload[-4:].upper()
