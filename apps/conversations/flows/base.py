"""The flow machinery: a declared state machine per flow, a transition log and timeouts.

A ``Flow`` declares ``transitions`` (state → allowed next states; ``""`` is the
start), ``active_states`` (states that hold the conversation's one-active-flow
lock, e.g. a pending confirmation) and ``timeouts`` (state → seconds). Every
change goes through ``flow_transition`` which enforces the map, writes a
``FlowTransition`` row, bumps ``version`` and arms the state's timeout
(``FlowRun.expires_at`` + a Celery countdown task, backed by a periodic sweep).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from django.db import transaction
from django.utils import timezone

from apps.conversations.models import Conversation, ConversationMessage, FlowRun, FlowTransition
from apps.conversations.platforms.base import Button, Reply
from apps.core.exceptions import Conflict


class InvalidFlowTransition(Conflict):
    code = "invalid_flow_transition"
    message = "This flow cannot move to that state."


class FlowBusy(Conflict):
    code = "flow_busy"
    message = "Another flow is waiting for an answer in this conversation."


@dataclass
class FlowContext:
    """What a flow handler gets: the locked run and conversation, who acts, and what was understood."""

    run: FlowRun
    conversation: Conversation
    language: str
    sender_id: str = ""
    sender_name: str = ""
    message: ConversationMessage | None = None
    intent: Any = None
    sent: list[Any] = field(default_factory=list)

    @property
    def actor(self) -> str:
        return f"{self.conversation.platform}:{self.sender_id}" if self.sender_id else "system"

    def say(self, reply: Reply, *, replaces: Any = None, remember_as: str = "") -> Any:
        """Send ``reply`` to the conversation (after commit); ``remember_as`` keeps its id in run.data."""
        from apps.conversations.services import reply_send

        outbound = reply_send(
            conversation=self.conversation, reply=reply, flow_run=self.run, replaces=replaces
        )
        if remember_as:
            self.run.data[remember_as] = str(outbound.pk)
            self.run.save(update_fields=["data", "updated_at"])
        self.sent.append(outbound)
        return outbound


class Flow:
    kind: ClassVar[str]
    transitions: ClassVar[dict[str, frozenset[str]]]
    active_states: ClassVar[frozenset[str]] = frozenset()
    timeouts: ClassVar[dict[str, Callable[[], int]]] = {}

    def start(self, ctx: FlowContext) -> None:
        raise NotImplementedError

    def on_message(self, ctx: FlowContext) -> bool:
        """A new message while this run holds the lock; True if the flow consumed it."""
        return False

    def on_action(self, ctx: FlowContext, action: str, value: str) -> None:
        """A button/list click (or a typed confirm/decline) aimed at this run."""

    def on_timeout(self, ctx: FlowContext) -> None:
        """The current state's timeout passed."""

    def on_payment(self, ctx: FlowContext, payment: Any, event: str) -> None:
        """A payment created by this run changed (``conversation_payment_notify``)."""

    def typed_answer(self, ctx: FlowContext, *, confirm_action: str = "confirm") -> bool:
        """A typed "yes"/"no" (or the engine's confirm/decline) acts like the card's buttons."""
        from apps.conversations.flows.entities import intent_name

        name = intent_name(ctx.intent, ctx.message.message_text if ctx.message else "")
        if name == "confirm":
            self.on_action(ctx, confirm_action, "")
            return True
        if name in ("decline", "cancel_or_refund"):
            self.on_action(ctx, "cancel", "")
            return True
        return False

    def terminal(self, state: str) -> bool:
        return not self.transitions.get(state)


def confirm_buttons(
    ctx: FlowContext, *, action: str = "confirm", label_key: str = "btn_confirm"
) -> tuple[Button, ...]:
    from apps.conversations.flows.messages import t

    run_id = str(ctx.run.pk)
    return (
        Button(action, t(label_key, ctx.language), run_id, style="primary"),
        Button("cancel", t("btn_cancel", ctx.language), run_id, style="danger"),
    )


def flow_transition(
    *,
    flow: Flow,
    run: FlowRun,
    to_state: str,
    event: str,
    actor: str = "system",
    data: dict | None = None,
    expires_at: Any = None,
) -> FlowRun:
    """Move ``run`` to ``to_state`` if the flow's map allows it; log it and arm the state's timeout."""
    from_state = run.state
    if to_state not in flow.transitions.get(from_state, frozenset()):
        raise InvalidFlowTransition(
            f"A {flow.kind} flow that is {from_state or 'new'} cannot become {to_state}.",
            extra={"from_state": from_state, "to_state": to_state},
        )
    becomes_active = to_state in flow.active_states
    if becomes_active and not run.is_active:
        others = FlowRun.objects.filter(conversation_id=run.conversation_id, is_active=True).exclude(
            pk=run.pk
        )
        if others.exists():
            raise FlowBusy(extra={"kind": others.values_list("kind", flat=True).first()})
    run.state = to_state
    run.version += 1
    run.is_active = becomes_active
    timeout = flow.timeouts.get(to_state)
    if expires_at is not None:  # a timer the flow computes itself (e.g. the next recurring occurrence)
        run.expires_at = expires_at
    else:
        run.expires_at = timezone.now() + timedelta(seconds=timeout()) if timeout else None
    run.save(update_fields=["state", "version", "is_active", "expires_at", "data", "updated_at"])
    FlowTransition.objects.create(
        flow_run=run,
        from_state=from_state,
        to_state=to_state,
        event=event,
        actor=actor,
        data={k: str(v) for k, v in (data or {}).items()},
    )
    if run.expires_at is not None:
        run_id, version, eta = str(run.pk), run.version, run.expires_at
        transaction.on_commit(lambda: _timeout_schedule(run_id, version, eta))
    return run


def _timeout_schedule(run_id: str, version: int, eta: Any) -> None:
    from apps.conversations.tasks import flow_timeout_task

    try:
        flow_timeout_task.apply_async(args=(run_id, version), eta=eta)
    except Exception:  # the periodic sweep still expires it
        import structlog

        structlog.get_logger(__name__).warning("flow_timeout_schedule_failed", flow_run_id=run_id)
