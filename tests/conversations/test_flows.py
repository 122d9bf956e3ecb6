"""Flows end to end through the router, with the real intent engine (contract 1) and a payments
double (contract 2): confirmation, edits, expiry, the one-active-flow lock, invoice options, split
bills, recurring schedules and suggestions, inquiries and negotiation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from apps.conversations import services
from apps.conversations.flows.base import InvalidFlowTransition, flow_transition
from apps.conversations.flows.engine import FLOWS
from apps.conversations.models import Conversation, FlowRun, OutboundMessage
from apps.conversations.platforms.base import Reply
from tests.factories import PaymentFactory


def english_conversation(
    organization: Any, platform: str, external_id: str, people: list[tuple[str, str]]
) -> Conversation:
    organization.default_language = "en"
    organization.save(update_fields=["default_language"])
    participants = [{"id": pid, "name": name} for pid, name in people]
    return Conversation.objects.create(
        organization=organization,
        platform=platform,
        external_conversation_id=external_id,
        participants=participants,
    )


@pytest.fixture
def chat(organization) -> Conversation:
    return english_conversation(organization, "webchat", "visitor-1", [("visitor-1", "Visitor")])


@pytest.fixture
def group(organization) -> Conversation:
    """A Slack channel without credentials: replies go to the local outbox."""
    people = [("U0ALICE", "Alice"), ("U0BOB", "Bob"), ("U0CAROL", "Carol")]
    return english_conversation(organization, "slack", "C0FIN", people)


@pytest.fixture
def say(django_capture_on_commit_callbacks, platform_settings):
    def _say(conversation: Conversation, text: str, *, sender: str | None = None, name: str = "") -> Any:
        sender = sender or conversation.participants[0]["id"]
        with django_capture_on_commit_callbacks(execute=True):
            return services.message_receive(
                organization=conversation.organization,
                platform=conversation.platform,
                external_conversation_id=conversation.external_conversation_id,
                sender_id=sender,
                sender_name=name,
                text=text,
            )

    return _say


@pytest.fixture
def click(django_capture_on_commit_callbacks):
    def _click(conversation: Conversation, token: str, *, sender: str | None = None) -> Any:
        sender = sender or conversation.participants[0]["id"]
        with django_capture_on_commit_callbacks(execute=True):
            return services.conversation_action(
                conversation=conversation,
                sender_id=sender,
                action=token.split(":")[0],
                payload={"token": token},
            )

    return _click


def replies(conversation: Conversation) -> list[Reply]:
    return [
        Reply.from_dict(o.reply)
        for o in OutboundMessage.objects.filter(conversation=conversation).order_by("created_at")
    ]


def last(conversation: Conversation) -> Reply:
    return replies(conversation)[-1]


def token(reply: Reply, action: str) -> str:
    choices: list[Any] = [*reply.buttons, *reply.options]
    return next(b.token for b in choices if b.action == action)


def test_direct_payment_edit_then_typed_yes(chat, say, payments_double):
    # when the visitor asks to pay (with the PIX key)
    say(chat, "pay ana R$ 30 via pix key ana@example.com")
    card = last(chat)
    # then a confirmation card with Confirm/Cancel, broadcast to the web chat, and nothing paid
    assert card.text.startswith("Send R$ 30.00 to Ana via PIX?") and [b.label for b in card.buttons] == [
        "Confirm",
        "Cancel",
    ]
    run = FlowRun.objects.get(conversation=chat)
    assert run.is_active and run.state == "awaiting_confirmation" and run.expires_at > timezone.now()
    assert payments_double.orchestrated == []
    first_card = OutboundMessage.objects.filter(conversation=chat).latest("created_at")

    # when they change their mind about the amount
    say(chat, "make it R$ 45")
    # then the pending confirmation is updated in place
    edited = OutboundMessage.objects.filter(conversation=chat).latest("created_at")
    assert "R$ 45.00" in edited.text and edited.replaces_id == first_card.pk

    # when they type "yes"
    say(chat, "yes")
    # then exactly the edited terms are paid
    [call] = payments_double.orchestrated
    assert (call["request"].amount, call["request"].payee_name, call["request"].preferred_rail) == (
        Decimal("45.00"),
        "Ana",
        "pix",
    )
    assert call["idempotency_key"] == f"flow:{run.pk}"
    run.refresh_from_db()
    assert run.state == "submitted" and not run.is_active
    assert [t.event for t in run.transitions.all()] == ["started", "edited", "confirm"]


def test_confirmation_expires_with_a_notice_and_a_late_yes_pays_nothing(chat, say, payments_double, settings):
    settings.CONVERSATIONS_CONFIRMATION_TTL = 300
    say(chat, "pay ana R$ 30 via pix key ana@example.com")
    # when six minutes pass and the periodic sweep runs
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert services.flow_timeouts_sweep() == 1
        notice = last(chat)
        say(chat, "yes")
    # then the visitor was told, and the late "yes" paid nothing
    assert "expired" in notice.text and "Nothing was paid" in notice.text
    assert last(chat).text == "There is nothing waiting for your confirmation."
    assert FlowRun.objects.get(conversation=chat).state == "expired"
    assert payments_double.orchestrated == []


def test_a_stale_timeout_task_does_nothing(chat, say, payments_double):
    say(chat, "pay ana R$ 30 via pix key ana@example.com")
    run = FlowRun.objects.get(conversation=chat)
    # the countdown task of the first card fires early or for an older version: ignored
    assert services.flow_timeout(flow_run_id=run.pk, version=run.version) is False
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert services.flow_timeout(flow_run_id=run.pk, version=run.version - 1) is False
        assert services.flow_timeout(flow_run_id=run.pk, version=run.version) is True


def test_cancel_and_the_one_active_flow_lock(chat, say, click, payments_double):
    say(chat, "pay ana R$ 30 via pix key ana@example.com")
    # while a confirmation is pending another flow cannot start
    say(chat, "let's split the $90 dinner 3 ways")
    assert "finish the pending direct payment first" in last(chat).text
    assert FlowRun.objects.filter(conversation=chat).count() == 1
    # Cancel releases the lock
    click(chat, token(replies(chat)[0], "cancel"))
    assert last(chat).text == "Cancelled. Nothing was paid."
    assert not FlowRun.objects.filter(conversation=chat, is_active=True).exists()
    assert payments_double.orchestrated == []


def test_flow_transition_map_is_enforced(chat):
    run = FlowRun.objects.create(conversation=chat, kind="direct_payment", state="cancelled", is_active=False)
    with pytest.raises(InvalidFlowTransition):
        flow_transition(flow=FLOWS["direct_payment"], run=run, to_state="submitted", event="confirm")


def test_invoice_with_options_and_costs_then_choice_and_confirmation(chat, say, click, payments_double):
    # when a customer asks for an invoice
    say(chat, "send me an invoice for R$ 500")
    invoice = last(chat)
    # then the options come from payment_quote, with their costs
    assert invoice.text.startswith("Invoice INV-") and "R$ 500.00" in invoice.text
    assert [(o.value, o.description) for o in invoice.options] == [
        ("pix", "fee R$ 0.00 · seconds"),
        ("stripe", "fee R$ 12.40 · 1-2 days"),
    ]
    assert payments_double.quotes[0].amount == Decimal("500.00")
    # when they pick PIX, a confirmation is asked; only then is it paid
    click(chat, token(invoice, "choose"))
    card = last(chat)
    assert "via PIX" in card.text and payments_double.orchestrated == []
    click(chat, token(card, "confirm"))
    [call] = payments_double.orchestrated
    assert (
        call["request"].preferred_rail == "pix"
        and call["request"].payee_ref == f"org:{chat.organization.slug}"
    )


def test_split_bill_tracks_each_share_until_settled(
    group, say, click, payments_double, django_capture_on_commit_callbacks
):
    # when Alice splits the dinner three ways
    say(group, "let's split the $90 dinner 3 ways", sender="U0ALICE", name="Alice")
    proposal = last(group)
    assert proposal.text == "Splitting $ 90.00 among 3: $ 30.00 each to Alice. Tap to pay your share."
    assert OutboundMessage.objects.filter(conversation=group).latest("created_at").channel == "local"
    run = FlowRun.objects.get(conversation=group)
    assert [s["status"] for s in run.data["shares"]] == ["pending", "pending"]
    # when Bob and Carol pay their shares (Alice, the payee, cannot)
    click(group, token(proposal, "settle"), sender="U0ALICE")
    click(group, token(proposal, "settle"), sender="U0BOB")
    click(group, token(proposal, "settle"), sender="U0CAROL")
    assert [c["request"].payer_ref for c in payments_double.orchestrated] == ["U0BOB", "U0CAROL"]
    assert all(c["request"].amount == Decimal("30.00") for c in payments_double.orchestrated)
    with django_capture_on_commit_callbacks(execute=True):
        payments_double.settle(payments_double.orchestrated[0]["payment"])
    assert last(group).text == "Split $ 90.00: 1/2 shares settled."
    with django_capture_on_commit_callbacks(execute=True):
        payments_double.settle(payments_double.orchestrated[1]["payment"])
    # then the split is settled
    run.refresh_from_db()
    assert run.state == "settled" and [s["status"] for s in run.data["shares"]] == ["paid", "paid"]
    assert last(group).text == "Everyone paid their share of $ 90.00 ✓"


def test_recurring_setup_schedules_and_each_occurrence_asks_for_confirmation(
    chat, say, click, payments_double
):
    say(chat, "pay rent 800 EUR to Lucia every month")
    card = last(chat)
    assert card.text.startswith("Set up € 800.00 to Lucia every month?")
    click(chat, token(card, "confirm"))
    schedule = FlowRun.objects.get(conversation=chat, kind="recurring")
    assert schedule.state == "scheduled" and not schedule.is_active
    assert schedule.expires_at.date() > timezone.now().date()
    # when the next occurrence comes
    with time_machine.travel(schedule.expires_at + timedelta(minutes=1)):
        services.flow_timeouts_sweep()
    # then a direct payment confirmation is opened — nothing is paid by the schedule itself
    occurrence = FlowRun.objects.get(conversation=chat, kind="direct_payment")
    assert occurrence.state == "awaiting_confirmation" and occurrence.data["amount"] == "800.00"
    assert "It's time for the recurring payment to Lucia." in [r.text for r in replies(chat)]
    assert payments_double.orchestrated == []
    schedule.refresh_from_db()
    assert schedule.state == "scheduled" and schedule.expires_at > timezone.now() + timedelta(days=20)


def test_a_repeat_of_last_months_payment_suggests_making_it_recurring(
    chat, say, click, payments_double, django_capture_on_commit_callbacks
):
    # given last month's payment of the same amount to Ana
    PaymentFactory(
        organization=chat.organization,
        amount=Decimal("30.00"),
        amount_currency="BRL",
        payee_name="Ana",
        payee_ref="ana",
        payee_identifiers={"pix_key": "ana@example.com"},
        status="succeeded",
        completed_at=timezone.now() - timedelta(days=30),
    )
    say(chat, "pay ana R$ 30 via pix")
    say(chat, "yes")
    with django_capture_on_commit_callbacks(execute=True):
        payments_double.settle(payments_double.orchestrated[0]["payment"])
    suggestion = last(chat)
    assert suggestion.text == "This looks like last month's payment to Ana (R$ 30.00) — make it recurring?"
    click(chat, token(suggestion, "recurring_yes"))
    assert FlowRun.objects.get(conversation=chat, kind="recurring").state == "scheduled"


def test_payment_inquiry(group, say):
    PaymentFactory(
        organization=group.organization,
        amount=Decimal("1200.00"),
        amount_currency="BRL",
        payer_ref="john",
        payee_ref="U0ALICE",
        purpose="consulting",
        status="succeeded",
        completed_at=timezone.now(),
    )
    group.participants = [*group.participants, {"id": "john", "name": "John"}]
    group.save(update_fields=["participants"])
    say(group, "did John pay me for the consulting?", sender="U0ALICE")
    assert last(group).text.startswith("Yes — John paid R$ 1,200.00 on ")
    say(group, "did Bob pay me for the consulting?", sender="U0ALICE")
    assert last(group).text == "I found no payment from Bob — the consulting."


def test_negotiation_offer_counter_accept_invoice(group, say, click, payments_double):
    say(group, "I can do the logo for R$ 1500", sender="U0ALICE", name="Alice")
    assert last(group).text.startswith("Alice offers R$ 1,500.00")
    say(group, "how about R$ 1200?", sender="U0BOB", name="Bob")
    offer = last(group)
    assert offer.text.startswith("Bob offers R$ 1,200.00")
    # Bob cannot accept his own offer; Alice can
    click(group, token(offer, "accept"), sender="U0BOB")
    assert FlowRun.objects.get(conversation=group, kind="negotiation").state == "countered"
    click(group, token(offer, "accept"), sender="U0ALICE")
    assert FlowRun.objects.get(conversation=group, kind="negotiation").state == "accepted"
    invoice_run = FlowRun.objects.get(conversation=group, kind="invoice")
    assert invoice_run.data["amount"] == "1200.00" and invoice_run.data["payer_id"] == "U0BOB"
    assert last(group).text.startswith("Invoice INV-") and "to Alice" in last(group).text


def test_the_database_holds_at_most_one_active_flow_per_conversation(chat):
    from django.db import IntegrityError, transaction

    FlowRun.objects.create(conversation=chat, kind="direct_payment", state="awaiting_confirmation")
    with pytest.raises(IntegrityError), transaction.atomic():
        FlowRun.objects.create(conversation=chat, kind="recurring", state="awaiting_confirmation")
    # finished runs do not count
    FlowRun.objects.create(conversation=chat, kind="inquiry", state="answered", is_active=False)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_processed_at_once_start_one_flow_and_the_other_hears_busy(
    organization, payments_double, platform_settings
):
    """Two workers analyse two messages of one conversation at the same time: the conversation's
    row lock serialises them, so one flow starts and the other request is told to wait."""
    import threading
    import time

    from django.db import connection, transaction

    from apps.conversations.models import ConversationMessage

    chat = english_conversation(organization, "webchat", "visitor-race", [("visitor-race", "Visitor")])
    texts = ("pay ana R$ 30 via pix key ana@example.com", "pay rent 800 EUR to Lucia every month")
    ids = [
        ConversationMessage.objects.create(conversation=chat, sender_id="visitor-race", message_text=t).pk
        for t in texts
    ]
    errors: list[BaseException] = []

    def work(message_id: Any) -> None:
        try:
            services.message_process(message_id=message_id)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(pk,)) for pk in ids]
    # given both workers are made to wait at the conversation's lock together
    with transaction.atomic():
        Conversation.objects.select_for_update().get(pk=chat.pk)
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                # inside a transaction the statistics views keep their first snapshot: drop it
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
                if cursor.fetchone()[0] >= 2:
                    break
            time.sleep(0.05)
        else:
            pytest.fail(f"the workers never waited for the conversation's lock ({errors!r})")
    # when the lock is released, then they ran one after the other
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    runs = list(FlowRun.objects.filter(conversation=chat))
    assert len(runs) == 1 and runs[0].is_active and runs[0].state == "awaiting_confirmation"
    busy = [r.text for r in replies(chat) if "first (confirm or cancel it)" in r.text]
    assert len(busy) == 1
