"""Parties: @mentions, names, pronouns and payment identifiers validated by their check digits."""

from __future__ import annotations

import re
from collections.abc import Iterable

from Crypto.Hash import keccak
from stdnum import bic as std_bic
from stdnum import iban as std_iban
from stdnum.au import abn as std_abn
from stdnum.br import cnpj as std_cnpj
from stdnum.br import cpf as std_cpf

from apps.intent.types import PartyEntity

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w])")
_MENTION = re.compile(r"(?<![\w@])@(?P<h>[A-Za-z0-9_][\w.]{0,30}[\w])")
_EVP = re.compile(
    r"(?<![\w-])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-])"
)
_ETH = re.compile(r"(?<![\w])0x[0-9a-fA-F]{40}(?![\w])")
_CNPJ = re.compile(r"(?<![\w./-])[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2}(?![\w/-])")
_CPF = re.compile(r"(?<![\w./-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\w./-])")
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?![\w])")
_BIC = re.compile(r"(?:\b(?:BIC|SWIFT)(?:/SWIFT)?:?\s*)(?P<b>[A-Z0-9]{8}(?:[A-Z0-9]{3})?)\b", re.IGNORECASE)
_BSB = re.compile(
    r"\bBSB:?\s*(?P<bsb>\d{3}[- ]?\d{3})[,;]?\s*(?:(?:acc(?:ount)?|a/c|conta|cuenta)(?:\s*(?:no\.?|number|#))?:?\s*)?(?P<acc>\d{5,9})\b",
    re.IGNORECASE,
)
_PAYID = re.compile(
    r"\bpay\s?id:?\s*(?P<v>[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+?61[\d ]{9,12}|04\d{2} ?\d{3} ?\d{3}|\d{2} ?\d{3} ?\d{3} ?\d{3})",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,5}){1,4}(?![\w])")
_PRONOUN = re.compile(
    r"\b(?P<p>him|her|them|ele|ela|dele|dela|eles|elas|él|ella|ellos|ellas)\b", re.IGNORECASE
)
_NAME_CUE = re.compile(
    r"\b(?:to|pay|paid|owe|owes|from|tell|ask|invoice|charge|remind|did|with|send|sent|pro|pra|para|ao|à|"
    r"paga|pagar|pague|pagou|manda|mande|cobra|cobrar|cobre|devo|deve|com|le|a|de|do|da|del|pagó|pague|"
    r"cóbrale|cobrale|págale|pagale|transfer|venmo|zelle|o|by|con|hey|birthday|cumpleaños|aniversário|aniversario|"
    r"remind|lembra|recuérdale|recuerdale|on|zap|subscribe|pídele|pidele|has|sending|paying|paid)\s+(?P<n>[A-ZÁÉÍÓÚÂÊÔÃÕÇÑ][a-záéíóúâêôãõçñü]+(?:\s+[A-ZÁÉÍÓÚÂÊÔÃÕÇÑ][a-záéíóúâêôãõçñü]+)?)"
)
_NAME = r"[A-ZÁÉÍÓÚÂÊÔÃÕÇÑ][a-záéíóúâêôãõçñü]+"
# A name opening the message when what follows makes it a person: "Javier me debe", "Lucas, cadê...".
_NAME_FIRST = re.compile(
    r"^(?i:(?:hey|hi|oi|ei|hola|oye|bro|então|entao|bueno|amigo)[,!]?\s+)?[¿¡]?(?i:(?:o|a)\s+)?"
    rf"(?P<n>{_NAME})"
    r"(?=\s+(?i:me\s+deve|me\s+debe|owes|paid|pagou|pag[oó]|ya|já|ja|mandou|mand[oó]|sent|still|has|did|"
    r"todav[ií]a|ainda)\b|,\s*(?i:you|voc[eê]|vc|todav[ií]a|cad[eê]|ainda|still|t[uú]|te|me)\b|'s\b)"
)
_NOT_NAMES = frozenset(
    [
        "I",
        "I'll",
        "I'm",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Pix",
        "PIX",
        "Segunda",
        "Terça",
        "Quarta",
        "Quinta",
        "Sexta",
        "Sábado",
        "Domingo",
        "Lunes",
        "Martes",
        "Miércoles",
        "Jueves",
        "Viernes",
        "Janeiro",
        "Fevereiro",
        "Março",
        "Abril",
        "Maio",
        "Junho",
        "Julho",
        "Agosto",
        "Setembro",
        "Outubro",
        "Novembro",
        "Dezembro",
        "Enero",
        "Febrero",
        "Marzo",
        "Mayo",
        "Junio",
        "Julio",
        "Septiembre",
        "Octubre",
        "Noviembre",
        "Diciembre",
        "Netflix",
        "Uber",
        "Spotify",
        "Amazon",
        "Stripe",
        "Wise",
        "Venmo",
        "Zelle",
        "PayPal",
        "Paypal",
        "Bank",
        "Banco",
        "The",
        "Hi",
        "Hey",
        "Ok",
        "OK",
        "Yes",
        "No",
        "Sim",
        "Não",
        "Sí",
        "Thanks",
        "Obrigado",
        "Gracias",
        "Nubank",
        "Itaú",
        "Bradesco",
        "Santander",
        "Inter",
        "Ifood",
        "iFood",
        "Rappi",
        "Airbnb",
        "Google",
        "Apple",
    ]
)


def eip55_valid(address: str) -> bool | None:
    """EIP-55 mixed-case checksum; all-lower/all-upper addresses carry no checksum (None)."""
    body = address[2:]
    if body == body.lower() or body == body.upper():
        return None
    digest = keccak.new(digest_bits=256, data=body.lower().encode()).hexdigest()
    for ch, h in zip(body, digest[:40], strict=True):
        if ch.isalpha() and (ch.isupper() != (int(h, 16) >= 8)):
            return False
    return True


def _not_repeated(digits: str) -> bool:
    """111.111.111-11 passes the mod-11 check but the Receita never issues it."""
    return len(set(digits)) > 1


def br_phone_valid(digits: str) -> bool:
    """+55, two-digit area code (11-99), then a 9-digit mobile starting with 9 or an 8-digit landline."""
    if not digits.startswith("55"):
        return False
    rest = digits[2:]
    if len(rest) not in (10, 11) or not 11 <= int(rest[:2]) <= 99:
        return False
    local = rest[2:]
    return (len(local) == 9 and local[0] == "9") or (len(local) == 8 and local[0] in "2345")


def _overlaps(spans: Iterable[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < e and end > s for s, e in spans)


def parties_extract(
    text: str, *, pix_context: bool = False, participants: Iterable[str] = ()
) -> list[PartyEntity]:
    out: list[PartyEntity] = []
    taken: list[tuple[int, int]] = []

    def add(
        kind: str, value: str, valid: bool | None, start: int, end: int, subkind: str | None = None
    ) -> None:
        out.append(
            PartyEntity(
                kind=kind,
                value=value,
                valid=valid,
                start=start,
                end=end,
                text=text[start:end],
                subkind=subkind,
            )
        )
        taken.append((start, end))

    for m in _PAYID.finditer(text):
        raw = m.group("v")
        digits = re.sub(r"\D", "", raw)
        if "@" in raw:
            add("payid", raw.lower(), None, m.start("v"), m.end("v"), "email")
        elif len(digits) == 11 and not digits.startswith("61"):
            add("payid", digits, std_abn.is_valid(digits), m.start("v"), m.end("v"), "abn")
        else:
            if digits.startswith("04"):
                digits = "61" + digits[1:]
            add(
                "payid",
                "+" + digits,
                len(digits) == 11 and digits[2] == "4",
                m.start("v"),
                m.end("v"),
                "phone",
            )
    for m in _BSB.finditer(text):
        bsb = re.sub(r"\D", "", m.group("bsb"))
        add("bsb_account", f"{bsb[:3]}-{bsb[3:]} {m.group('acc')}", None, m.start("bsb"), m.end("acc"))
    for m in _EMAIL.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        if pix_context:
            add("pix_key", m.group(0).lower(), None, m.start(), m.end(), "email")
        else:
            add("email", m.group(0).lower(), None, m.start(), m.end())
    for m in _EVP.finditer(text):
        add("pix_key", m.group(0).lower(), None, m.start(), m.end(), "evp")
    for m in _ETH.finditer(text):
        add("eth_address", m.group(0), eip55_valid(m.group(0)), m.start(), m.end())
    for m in _IBAN.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        compact = m.group(0).replace(" ", "")
        if len(compact) < 15:
            continue
        add("iban", compact, std_iban.is_valid(compact), m.start(), m.end())
    for m in _BIC.finditer(text):
        code = m.group("b").upper()
        add("bic", code, std_bic.is_valid(code), m.start("b"), m.end("b"))
    for m in _CNPJ.finditer(text):
        raw = m.group(0)
        compact = re.sub(r"[./-]", "", raw)
        if _overlaps(taken, m.start(), m.end()) or len(compact) != 14 or not re.search(r"\d{2}$", compact):
            continue
        if compact.isdigit() or re.search(r"[./-]", raw) or any(c.isalpha() for c in compact):
            add(
                "pix_key",
                compact,
                _not_repeated(compact) and std_cnpj.is_valid(compact),
                m.start(),
                m.end(),
                "cnpj",
            )
    for m in _CPF.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        compact = re.sub(r"\D", "", m.group(0))
        add(
            "pix_key",
            compact,
            _not_repeated(compact) and std_cpf.is_valid(compact),
            m.start(),
            m.end(),
            "cpf",
        )
    for m in _PHONE.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        digits = re.sub(r"\D", "", m.group(0))
        if len(digits) < 8:
            continue
        if digits.startswith("55"):
            valid = br_phone_valid(digits)
            kind = "pix_key" if pix_context else "phone"
            add(kind, "+" + digits, valid, m.start(), m.end(), "phone" if kind == "pix_key" else None)
        else:
            add("phone", "+" + digits, None, m.start(), m.end())
    for m in _MENTION.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        add("mention", m.group("h").casefold(), None, m.start(), m.end())
    lowered = text.casefold()
    for name in participants:
        if not name:
            continue
        for m in re.finditer(rf"(?<![\w@]){re.escape(name.casefold())}(?![\w])", lowered):
            if not _overlaps(taken, m.start(), m.end()):
                add("name", name, None, m.start(), m.end())
    for m in _NAME_CUE.finditer(text):
        name = m.group("n")
        first = name.split()[0]
        if first in _NOT_NAMES or _overlaps(taken, m.start("n"), m.end("n")):
            continue
        if name.split()[-1] in _NOT_NAMES:
            name = first
        add("name", name, None, m.start("n"), m.start("n") + len(name))
    first = _NAME_FIRST.search(text)
    if (
        first
        and first.group("n") not in _NOT_NAMES
        and not _overlaps(taken, first.start("n"), first.end("n"))
    ):
        add("name", first.group("n"), None, first.start("n"), first.end("n"))
    for m in _PRONOUN.finditer(text):
        add("pronoun", m.group("p").casefold(), None, m.start(), m.end())
    out.sort(key=lambda p: p.start)
    return out
