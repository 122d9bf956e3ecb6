"""The message catalogue: every text AgentPay says, in en / pt / es."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

CATALOGUE: dict[str, dict[str, str]] = {
    "help": {
        "en": "I can send payments, invoices, split bills and check payments. Try “pay João R$ 50 via PIX”.",
        "pt": "Posso enviar pagamentos, cobranças, dividir contas e consultar pagamentos. Tente “pague R$ 50 ao João via PIX”.",
        "es": "Puedo enviar pagos, facturas, dividir cuentas y consultar pagos. Prueba “paga 50 € a Juan”.",
    },
    "ask_amount": {
        "en": "How much should I send{to}?",
        "pt": "Quanto devo enviar{to}?",
        "es": "¿Cuánto debo enviar{to}?",
    },
    "ask_payee": {
        "en": "Who should receive {amount}? Send a name, @mention, PIX key or IBAN.",
        "pt": "Quem deve receber {amount}? Envie um nome, @menção, chave PIX ou IBAN.",
        "es": "¿Quién debe recibir {amount}? Envía un nombre, @mención, clave PIX o IBAN.",
    },
    "ask_identifier": {
        "en": "What is {payee}'s {label}?",
        "pt": "Qual é a {label} de {payee}?",
        "es": "¿Cuál es la {label} de {payee}?",
    },
    "confirm_payment": {
        "en": "Send {amount} to {payee}{via}? This confirmation expires in {minutes} min.",
        "pt": "Enviar {amount} para {payee}{via}? Esta confirmação expira em {minutes} min.",
        "es": "¿Enviar {amount} a {payee}{via}? Esta confirmación vence en {minutes} min.",
    },
    "btn_confirm": {"en": "Confirm", "pt": "Confirmar", "es": "Confirmar"},
    "btn_cancel": {"en": "Cancel", "pt": "Cancelar", "es": "Cancelar"},
    "btn_accept": {"en": "Accept", "pt": "Aceitar", "es": "Aceptar"},
    "btn_yes": {"en": "Yes", "pt": "Sim", "es": "Sí"},
    "btn_no": {"en": "No", "pt": "Não", "es": "No"},
    "btn_pay_share": {"en": "Pay my share", "pt": "Pagar minha parte", "es": "Pagar mi parte"},
    "confirmed": {
        "en": "Confirmed ✓ Sending {amount} to {payee}…",
        "pt": "Confirmado ✓ Enviando {amount} para {payee}…",
        "es": "Confirmado ✓ Enviando {amount} a {payee}…",
    },
    "cancelled": {
        "en": "Cancelled. Nothing was paid.",
        "pt": "Cancelado. Nada foi pago.",
        "es": "Cancelado. No se pagó nada.",
    },
    "expired": {
        "en": "The confirmation for {amount} to {payee} expired. Nothing was paid — send it again if you still want to pay.",
        "pt": "A confirmação de {amount} para {payee} expirou. Nada foi pago — envie de novo se ainda quiser pagar.",
        "es": "La confirmación de {amount} a {payee} venció. No se pagó nada — envíalo de nuevo si aún quieres pagar.",
    },
    "nothing_pending": {
        "en": "There is nothing waiting for your confirmation.",
        "pt": "Não há nada aguardando sua confirmação.",
        "es": "No hay nada esperando tu confirmación.",
    },
    "busy": {
        "en": "Let's finish the pending {kind} first (confirm or cancel it).",
        "pt": "Vamos terminar primeiro o {kind} pendente (confirme ou cancele).",
        "es": "Terminemos primero el {kind} pendiente (confírmalo o cancélalo).",
    },
    "not_yours": {
        "en": "Only {who} can confirm this.",
        "pt": "Só {who} pode confirmar isto.",
        "es": "Solo {who} puede confirmar esto.",
    },
    "payment_error": {
        "en": "I couldn't create the payment: {reason}",
        "pt": "Não consegui criar o pagamento: {reason}",
        "es": "No pude crear el pago: {reason}",
    },
    "payment_initiated": {
        "en": "Payment of {amount} initiated via {rail}.",
        "pt": "Pagamento de {amount} iniciado via {rail}.",
        "es": "Pago de {amount} iniciado vía {rail}.",
    },
    "payment_initiated_pix": {
        "en": "Pay {amount} with PIX: scan the QR code or copy the code below.",
        "pt": "Pague {amount} com PIX: leia o QR code ou copie o código abaixo.",
        "es": "Paga {amount} con PIX: escanea el código QR o copia el código de abajo.",
    },
    "payment_completed": {
        "en": "Payment received ✓ {amount} to {payee}.",
        "pt": "Pagamento recebido ✓ {amount} para {payee}.",
        "es": "Pago recibido ✓ {amount} a {payee}.",
    },
    "payment_failed": {
        "en": "The payment of {amount} failed: {reason}",
        "pt": "O pagamento de {amount} falhou: {reason}",
        "es": "El pago de {amount} falló: {reason}",
    },
    "payment_fallback": {
        "en": "{old} had a problem, so I'm retrying {amount} via {rail}.",
        "pt": "{old} teve um problema, então vou tentar {amount} via {rail}.",
        "es": "{old} tuvo un problema, así que reintento {amount} vía {rail}.",
    },
    "payment_on_hold": {
        "en": "The payment of {amount} is on hold for a compliance review. I'll tell you when it's decided.",
        "pt": "O pagamento de {amount} está em análise de compliance. Aviso quando for decidido.",
        "es": "El pago de {amount} está en revisión de cumplimiento. Te aviso cuando se decida.",
    },
    "payment_blocked": {
        "en": "The payment of {amount} to {payee} was blocked by our compliance checks. Nothing was paid.",
        "pt": "O pagamento de {amount} para {payee} foi bloqueado pela nossa verificação de compliance. "
        "Nada foi pago.",
        "es": "El pago de {amount} a {payee} fue bloqueado por nuestros controles de cumplimiento. "
        "No se pagó nada.",
    },
    "compliance_info_requested": {
        "en": "Before the payment of {amount} can go, our compliance team asks: {question} Just reply here.",
        "pt": "Antes de liberar o pagamento de {amount}, nossa equipe de compliance pergunta: {question} "
        "É só responder aqui.",
        "es": "Antes de enviar el pago de {amount}, nuestro equipo de cumplimiento pregunta: {question} "
        "Responde aquí mismo.",
    },
    "invoice_options": {
        "en": "Invoice {number}: {amount} to {payee}{purpose}. Choose how to pay:",
        "pt": "Cobrança {number}: {amount} para {payee}{purpose}. Escolha como pagar:",
        "es": "Factura {number}: {amount} a {payee}{purpose}. Elige cómo pagar:",
    },
    "options_title": {"en": "Payment options", "pt": "Formas de pagamento", "es": "Formas de pago"},
    "option_line": {
        "en": "fee {fee} · {eta}",
        "pt": "tarifa {fee} · {eta}",
        "es": "comisión {fee} · {eta}",
    },
    "split_proposed": {
        "en": "Splitting {total} among {n}: {share} each to {payee}. Tap to pay your share.",
        "pt": "Dividindo {total} entre {n}: {share} cada para {payee}. Toque para pagar sua parte.",
        "es": "Dividiendo {total} entre {n}: {share} cada uno para {payee}. Toca para pagar tu parte.",
    },
    "split_status": {
        "en": "Split {total}: {paid}/{n} shares settled.",
        "pt": "Divisão de {total}: {paid}/{n} partes pagas.",
        "es": "División de {total}: {paid}/{n} partes pagadas.",
    },
    "split_settled": {
        "en": "Everyone paid their share of {total} ✓",
        "pt": "Todos pagaram sua parte de {total} ✓",
        "es": "Todos pagaron su parte de {total} ✓",
    },
    "split_need_people": {
        "en": "Who is splitting {total}? Mention the people or say “3 ways”.",
        "pt": "Quem vai dividir {total}? Mencione as pessoas ou diga “entre 3”.",
        "es": "¿Quién divide {total}? Menciona a las personas o di “entre 3”.",
    },
    "recurring_confirm": {
        "en": "Set up {amount} to {payee} {schedule}? Each payment will still ask for your confirmation.",
        "pt": "Programar {amount} para {payee} {schedule}? Cada pagamento ainda pedirá sua confirmação.",
        "es": "¿Programar {amount} a {payee} {schedule}? Cada pago seguirá pidiendo tu confirmación.",
    },
    "recurring_scheduled": {
        "en": "Done: {amount} to {payee} {schedule}. Next on {next}.",
        "pt": "Pronto: {amount} para {payee} {schedule}. Próximo em {next}.",
        "es": "Listo: {amount} a {payee} {schedule}. Próximo el {next}.",
    },
    "recurring_suggest": {
        "en": "This looks like last month's payment to {payee} ({amount}) — make it recurring?",
        "pt": "Parece o pagamento do mês passado para {payee} ({amount}) — tornar recorrente?",
        "es": "Parece el pago del mes pasado a {payee} ({amount}) — ¿hacerlo recurrente?",
    },
    "recurring_due": {
        "en": "It's time for the recurring payment to {payee}.",
        "pt": "Chegou a hora do pagamento recorrente para {payee}.",
        "es": "Es hora del pago recurrente a {payee}.",
    },
    "monthly": {"en": "every month", "pt": "todo mês", "es": "cada mes"},
    "weekly": {"en": "every week", "pt": "toda semana", "es": "cada semana"},
    "inquiry_found": {
        "en": "Yes — {payer} paid {amount} on {date} ({status}){purpose}.",
        "pt": "Sim — {payer} pagou {amount} em {date} ({status}){purpose}.",
        "es": "Sí — {payer} pagó {amount} el {date} ({status}){purpose}.",
    },
    "inquiry_pending": {
        "en": "Not yet — a payment of {amount} from {payer} is {status}.",
        "pt": "Ainda não — um pagamento de {amount} de {payer} está {status}.",
        "es": "Aún no — un pago de {amount} de {payer} está {status}.",
    },
    "inquiry_none": {
        "en": "I found no payment from {payer}{purpose}.",
        "pt": "Não encontrei pagamento de {payer}{purpose}.",
        "es": "No encontré pagos de {payer}{purpose}.",
    },
    "history": {
        "en": "Your last payments:\n{lines}",
        "pt": "Seus últimos pagamentos:\n{lines}",
        "es": "Tus últimos pagos:\n{lines}",
    },
    "history_empty": {"en": "No payments yet.", "pt": "Nenhum pagamento ainda.", "es": "Aún no hay pagos."},
    "offer": {
        "en": "{who} offers {amount}{purpose}. Accept or reply with a counter-offer.",
        "pt": "{who} oferece {amount}{purpose}. Aceite ou responda com uma contraproposta.",
        "es": "{who} ofrece {amount}{purpose}. Acepta o responde con una contraoferta.",
    },
    "deal": {
        "en": "Deal at {amount} ✓ Creating the invoice…",
        "pt": "Fechado em {amount} ✓ Criando a cobrança…",
        "es": "Trato hecho por {amount} ✓ Creando la factura…",
    },
}

CURRENCY_SYMBOLS = {"BRL": "R$", "USD": "$", "EUR": "€", "GBP": "£", "AUD": "A$", "JPY": "¥", "MXN": "MX$"}


def t(key: str, language: str, **kwargs: Any) -> str:
    texts = CATALOGUE[key]
    return texts.get(language if language in texts else "en", texts["en"]).format(**kwargs)


def money_format(value: Decimal | str | None, currency: str) -> str:
    if value is None:
        return "?"
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol} {amount:,}" if symbol else f"{amount:,} {currency}"
