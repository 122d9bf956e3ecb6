"""The rules tier: high-precision cues matched with spaCy's Matcher on blank en/pt/es pipelines.

Nothing is downloaded: ``spacy.blank`` gives the tokenizer, the Matcher does the rest. Matching runs on
the case-folded, accent-stripped text so "não"/"nao" and "día"/"dia" hit the same pattern.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import spacy
from spacy.matcher import Matcher, PhraseMatcher

# Per-rule confidence = measured precision of that rule on train.jsonl (see evaluate_intent --rules).
RULE_CONFIDENCE = {
    "cancel_or_refund": 0.95,
    "invoice_request": 0.95,
    "balance_or_history": 0.95,
    "split_bill": 0.95,
    "recurring_setup": 0.93,
    "confirm": 0.95,
    "decline": 0.95,
    "payment_inquiry": 0.9,
    "negotiation_context": 0.9,
}


def _words(s: str) -> list[str]:
    return s.split()


_LEX: dict[str, list[str]] = {
    "REFUND": _words(
        "refund refunded refunds reembolso reembolsen reembolsar reembolsa reembolsame estorno estorna estornar "
        "estorne estornem chargeback devolucion reverse revierte reverter void"
    ),
    "CANCEL": _words(
        "cancel cancela cancelar cancele cancela anula anular anule undo desfaz deshaz suspende suspender stop"
    ),
    "PAYOBJ": _words(
        "payment pagamento pago transfer transferencia pix subscription assinatura suscripcion cobranca cobro "
        "cobrança debito recurring recorrente charge transferencia envio order"
    ),
    "INVOICE": _words(
        "invoice invoices invoicing invoiced receipt fatura faturar nf boleto factura facturar facturame factura "
        "facturale facture recibo"
    ),
    "BALANCE": _words(
        "balance saldo extrato statement transactions historial historico movimientos extracto transacoes "
        "transacciones history gastos spending"
    ),
    "SPLIT": _words(
        "split splitting rachar racha rachamos dividir divide dividimos dividamos dividam dividi dividan halves halve "
        "repartir reparte repartamos partilha partimos"
    ),
    "YES": _words(
        "yes yep yup yeah yess yesss yessss sure confirm confirmed confirmo confirmado confirmadissimo confirma ok okay "
        "okey approved aprovado aprobado sim simm simmm si dale claro correct correcto certo isso adelante absolutely "
        "perfecto perfect beleza fechado bora va vale go do pode manda"
    ),
    "NO": _words(
        "no nope nah nahh nao não nem ni nada negative nops nop not hold wait espera peraí perai para mejor melhor "
        "deixa déjalo dejalo"
    ),
    "NEGATION": _words("no not nao não don't dont n't nem ni"),
    "ASKPAID": _words(
        "paid pay pagou pagó pago pagaste arrive arrived chegou chegaram llegó llego llegaron caiu cayo cayó "
        "receive received recebeu recibiste entrou entro entró clear cleared compensou acredito acreditó reflejo "
        "reflejó through foi salio salió"
    ),
    "ASKAUX": _words("did has have was is já ja ya se o a el la meu mi qual cual como status"),
    "MAKEIT": _words("make faz faça deixa deja que dejamos deixamos"),
    "PAYBILL": _words("pay paga pague pagar paying pagando págala pagala"),
    "STOPVERB": _words("para pare parar deja dejar deje dejá"),
    "PAYVERB": _words(
        "paying sending charging pagar pagarle pagarlo mandar mandarle enviar enviarle cobrar cobrarle debitar"
    ),
}


# Imperatives that confirm when they stand alone ("pode", "manda ver") but not in "manda a foto da festa".
_YES_VERBS = frozenset({"manda", "pode", "go", "do", "va"})
_NOT_YES = frozenset({"pode deixar"})  # "leave it to me", a promise
_NOT_NO = frozenset({"no te preocupes", "nao se preocupe", "no worries"})  # reassurance, not a refusal
# "what did I pay Ana last month?" / "quanto recebi?" ask about history, not whether a payment landed.
_HISTORY_OPENERS = frozenset({"how", "what", "quanto", "quanta", "cuanto", "cuanta"})


@dataclass(frozen=True)
class RuleHit:
    intent: str
    confidence: float
    rule: str


class _LanguageRules:
    def __init__(self, lang: str) -> None:
        self.nlp = spacy.blank(lang if lang in ("en", "pt", "es") else "xx")
        self.matcher = Matcher(self.nlp.vocab)
        lex = {k: [w.casefold() for w in v] for k, v in _LEX.items()}
        # Up to three tokens of anything between two cue words ("cancel the last payment").
        gap = {"OP": "{,3}"}
        self.matcher.add("REFUND", [[{"LOWER": {"IN": lex["REFUND"]}}]])
        self.matcher.add(
            "CANCEL",
            [
                [{"LOWER": {"IN": lex["CANCEL"]}}, gap, {"LOWER": {"IN": lex["PAYOBJ"]}}],
            ],
        )
        # "stop paying Ana every month" / "para de pagar o João" / "deja de pagarle a Diego"
        self.matcher.add(
            "STOPPAY",
            [
                [{"LOWER": {"IN": ["stop", "quit"]}}, {"LOWER": {"IN": lex["PAYVERB"]}}],
                [{"LOWER": {"IN": lex["STOPVERB"]}}, {"LOWER": "de"}, {"LOWER": {"IN": lex["PAYVERB"]}}],
            ],
        )
        self.matcher.add(
            "INVOICE",
            [
                [{"LOWER": {"IN": lex["INVOICE"]}}],
                [{"LOWER": "bill"}, {"LOWER": "me"}],
                [{"LOWER": "nota"}, {"LOWER": "fiscal"}],
            ],
        )
        # "pay the invoice from Ana" / "paga o boleto": paying a bill, not asking for one.
        self.matcher.add(
            "PAYINVOICE",
            [[{"LOWER": {"IN": lex["PAYBILL"]}}, gap, {"LOWER": {"IN": lex["INVOICE"]}}]],
        )
        self.matcher.add(
            "BALANCE",
            [
                [{"LOWER": {"IN": lex["BALANCE"]}}],
                [{"LOWER": "how"}, {"LOWER": "much"}, {"LOWER": "do"}, {"LOWER": "i"}, {"LOWER": "have"}],
                [{"LOWER": "estado"}, {"LOWER": "de"}, {"LOWER": "cuenta"}],
            ],
        )
        self.matcher.add(
            "SPLIT",
            [
                [{"LOWER": {"IN": lex["SPLIT"]}}],
                [{"LOWER": "meio"}, {"LOWER": "a"}, {"LOWER": "meio"}],
                [{"LOWER": "a"}, {"LOWER": "medias"}],
                [{"LOWER": "go"}, {"LOWER": "halves"}],
            ],
        )
        self.matcher.add(
            "ASKPAID",
            [
                [{"LOWER": {"IN": lex["ASKAUX"]}}, gap, {"LOWER": {"IN": lex["ASKPAID"]}}],
            ],
        )
        self.matcher.add(
            "MAKEIT",
            [[{"LOWER": {"IN": lex["MAKEIT"]}}, {"LOWER": {"IN": ["it", "por", "en", "sean", "sea"]}}]],
        )
        self.phrases = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self.yes = frozenset(lex["YES"])
        self.no = frozenset(lex["NO"])
        self.negation = frozenset(lex["NEGATION"])

    def tokens(self, text: str) -> Any:
        return self.nlp.make_doc(text)


_cache: dict[str, _LanguageRules] = {}
_lock = threading.Lock()


def _rules_for(lang: str) -> _LanguageRules:
    r = _cache.get(lang)
    if r is None:
        with _lock:
            r = _cache.get(lang) or _LanguageRules(lang)
            _cache[lang] = r
    return r


def rules_warm() -> None:
    for lang in ("en", "pt", "es"):
        _rules_for(lang)


def rules_match(
    folded: str, *, language: str, has_amount: bool, has_recurrence: bool, has_action: bool
) -> RuleHit | None:
    """A decision from unambiguous cues, or None to let the model decide. ``folded``: lower, no accents."""
    r = _rules_for(language if language in ("en", "pt", "es") else "en")
    doc = r.tokens(folded)
    words = [t.lower_ for t in doc if t.is_alpha or t.like_num]
    found = {r.nlp.vocab.strings[mid] for mid, _, _ in r.matcher(doc)}
    if "REFUND" in found or "CANCEL" in found or "STOPPAY" in found:
        return RuleHit("cancel_or_refund", RULE_CONFIDENCE["cancel_or_refund"], "refund_or_cancel")
    if "INVOICE" in found and "PAYINVOICE" not in found:
        return RuleHit("invoice_request", RULE_CONFIDENCE["invoice_request"], "invoice")
    if "BALANCE" in found and not has_amount:
        return RuleHit("balance_or_history", RULE_CONFIDENCE["balance_or_history"], "balance")
    if "SPLIT" in found:
        return RuleHit("split_bill", RULE_CONFIDENCE["split_bill"], "split")
    if words and len(words) <= 6 and not has_amount and "?" not in folded:
        first = words[0]
        negated = any(t.lower_ in r.negation for t in doc)
        # "manda a foto", "pode deixar que eu te pago": an imperative first word only says yes on its own.
        verb_only = first not in _YES_VERBS or len(words) <= 3
        if first in r.yes and not negated and verb_only and " ".join(words[:2]) not in _NOT_YES:
            return RuleHit("confirm", RULE_CONFIDENCE["confirm"], "short_yes")
        if first in r.no and " ".join(words[:3]) not in _NOT_NO:
            return RuleHit("decline", RULE_CONFIDENCE["decline"], "short_no")
    if has_recurrence and has_amount and has_action:
        return RuleHit("recurring_setup", RULE_CONFIDENCE["recurring_setup"], "recurrence")
    history_question = bool(words) and (words[0] in _HISTORY_OPENERS or words[:2] == ["o", "que"])
    if "ASKPAID" in found and "?" in folded and not (history_question and "status" not in words):
        return RuleHit("payment_inquiry", RULE_CONFIDENCE["payment_inquiry"], "asked_if_paid")
    return None


def makes_counter_offer(folded: str, *, language: str) -> bool:
    """ "make it $450" / "faz por 450" / "que sean 450": a new figure for the thing under discussion."""
    r = _rules_for(language if language in ("en", "pt", "es") else "en")
    doc = r.tokens(folded)
    return any(r.nlp.vocab.strings[mid] == "MAKEIT" for mid, _, _ in r.matcher(doc))
