"""Human explanations of a routing decision in en / pt / es, plus the structured form."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from apps.payments.constants import quantize_money
from apps.payments.types import RailOption

SYMBOLS = {"BRL": "R$", "USD": "US$", "EUR": "€", "AUD": "A$", "GBP": "£", "MXN": "MX$", "USDC": "USDC"}

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "paying": "You're paying via {rail}",
        "fee": "Fee: {fee} ({pct})",
        "eta": "Arrives {eta}",
        "cheaper_faster": "{pct}% cheaper than {other}, arrives {eta} instead of {other_eta}",
        "cheaper": "{pct}% cheaper than {other} ({other} arrives {other_eta})",
        "faster": "arrives {eta} instead of {other_eta} with {other}, for {diff} more",
        "same": "same cost as {other}",
        "only": "the only rail that can carry this payment",
        "preferred": "your preferred rail",
        "seconds": "in seconds",
        "minutes": "in about {n} minutes",
        "hours": "within {n} hours",
        "days": "in {lo}–{n} business days",
        "one_day": "by the next business day",
        "business_days": "in {n} business days",
    },
    "pt": {
        "paying": "Você está pagando via {rail}",
        "fee": "Tarifa: {fee} ({pct})",
        "eta": "Chega {eta}",
        "cheaper_faster": "{pct}% mais barato que {other}, chega {eta} em vez de {other_eta}",
        "cheaper": "{pct}% mais barato que {other} ({other} chega {other_eta})",
        "faster": "chega {eta} em vez de {other_eta} com {other}, por {diff} a mais",
        "same": "mesmo custo que {other}",
        "only": "o único meio que pode levar este pagamento",
        "preferred": "o seu meio preferido",
        "seconds": "em segundos",
        "minutes": "em cerca de {n} minutos",
        "hours": "em até {n} horas",
        "days": "em {lo}–{n} dias úteis",
        "one_day": "até o próximo dia útil",
        "business_days": "em {n} dias úteis",
    },
    "es": {
        "paying": "Estás pagando vía {rail}",
        "fee": "Comisión: {fee} ({pct})",
        "eta": "Llega {eta}",
        "cheaper_faster": "{pct}% más barato que {other}, llega {eta} en lugar de {other_eta}",
        "cheaper": "{pct}% más barato que {other} ({other} llega {other_eta})",
        "faster": "llega {eta} en lugar de {other_eta} con {other}, por {diff} más",
        "same": "mismo costo que {other}",
        "only": "el único medio que puede llevar este pago",
        "preferred": "tu medio preferido",
        "seconds": "en segundos",
        "minutes": "en unos {n} minutos",
        "hours": "en menos de {n} horas",
        "days": "en {lo}–{n} días hábiles",
        "one_day": "el próximo día hábil",
        "business_days": "en {n} días hábiles",
    },
}


def _lang(language: str) -> str:
    code = (language or "en")[:2].lower()
    return code if code in TEXT else "en"


def eta_text(seconds: int, language: str = "en", *, business_days: int | None = None) -> str:
    """How long until the payee has the money; ``business_days`` when the rail counts in them."""
    t = TEXT[_lang(language)]
    if business_days is not None:
        return t["one_day"] if business_days <= 1 else t["business_days"].format(n=business_days)
    if seconds < 120:
        return t["seconds"]
    if seconds < 3600:
        return t["minutes"].format(n=math.ceil(seconds / 60))
    if seconds < 86400:
        return t["hours"].format(n=math.ceil(seconds / 3600))
    days = math.ceil(seconds / 86400)
    if days == 1:
        return t["one_day"]
    return t["days"].format(lo=days - 1, n=days)


def money_text(amount: Decimal, currency: str, language: str = "en") -> str:
    value = quantize_money(amount, currency)
    text = f"{value:,}"
    if _lang(language) in ("pt", "es"):
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    symbol = SYMBOLS.get(currency, currency)
    return f"{symbol} {text}"


def _pct(value: Decimal, language: str) -> str:
    text = f"{value.quantize(Decimal('0.01')).normalize():f}%"
    return text.replace(".", ",") if _lang(language) in ("pt", "es") else text


def explanation_build(
    ranked: list[RailOption], *, language: str, preferred: bool = False
) -> tuple[str, dict[str, Any]]:
    """``ranked[0]`` is the chosen rail; the text compares it with the next best."""
    lang = _lang(language)
    t = TEXT[lang]
    best = ranked[0]
    q = best.quote
    fee_pct = (q.fee_total / q.amount * 100) if q.amount else Decimal(0)
    eta = eta_text(q.eta_seconds, lang, business_days=q.eta_business_days)
    parts = [
        t["paying"].format(rail=best.display_name) + ".",
        "✓ " + t["fee"].format(fee=money_text(q.fee_total, q.currency, lang), pct=_pct(fee_pct, lang)),
        "✓ " + t["eta"].format(eta=eta),
    ]
    comparison: dict[str, Any] | None = None
    if len(ranked) > 1:
        other = ranked[1]
        oq = other.quote
        other_eta = eta_text(oq.eta_seconds, lang, business_days=oq.eta_business_days)
        saving = (oq.total_cost - q.total_cost) / oq.total_cost * 100 if oq.total_cost > 0 else Decimal(0)
        saving_pct = int(saving.quantize(Decimal(1)))
        if saving_pct > 0 and q.eta_seconds < oq.eta_seconds:
            line = t["cheaper_faster"].format(
                pct=saving_pct, other=other.display_name, eta=eta, other_eta=other_eta
            )
        elif saving_pct > 0:
            line = t["cheaper"].format(pct=saving_pct, other=other.display_name, other_eta=other_eta)
        elif q.eta_seconds < oq.eta_seconds:
            line = t["faster"].format(
                eta=eta,
                other_eta=other_eta,
                other=other.display_name,
                diff=money_text(q.total_cost - oq.total_cost, q.currency, lang),
            )
        else:
            line = t["same"].format(other=other.display_name)
        parts.append("✓ " + line[0].upper() + line[1:])
        comparison = {
            "rail": other.rail,
            "cheaper_percent": saving_pct,
            "faster": q.eta_seconds < oq.eta_seconds,
            "other_total_cost": str(oq.total_cost),
            "other_eta_seconds": oq.eta_seconds,
        }
    else:
        parts.append("✓ " + t["only"][0].upper() + t["only"][1:])
    if preferred:
        parts.append("✓ " + t["preferred"][0].upper() + t["preferred"][1:])
    data = {
        "language": lang,
        "rail": best.rail,
        "fee": str(q.fee_total),
        "fee_percent": str(fee_pct.quantize(Decimal("0.01"))),
        "currency": q.currency,
        "total_cost": str(q.total_cost),
        "eta_seconds": q.eta_seconds,
        "eta_text": eta,
        "comparison": comparison,
        "scores": {o.rail: round(o.score, 4) for o in ranked},
    }
    return "\n".join(parts), data
