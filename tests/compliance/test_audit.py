"""The hash-chained, append-only audit log."""

from __future__ import annotations

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from apps.compliance.models import AuditEntry
from apps.compliance.services import audit_record, audit_verify


def _tamper(sql: str, params: list) -> None:
    """Change the table behind the application's back (on PostgreSQL the trigger must be lifted first)."""
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("ALTER TABLE compliance_auditentry DISABLE TRIGGER USER")
        cur.execute(sql, params)
        if connection.vendor == "postgresql":
            cur.execute("ALTER TABLE compliance_auditentry ENABLE TRIGGER USER")


@pytest.mark.django_db
def test_entries_are_chained(user, organization, rf, settings):
    # given: a trusted proxy named the request
    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
    request = rf.post("/x", REMOTE_ADDR="203.0.113.9", HTTP_X_REQUEST_ID="req-1")
    # when
    first = audit_record(action="payment.created", actor=user, target=organization, after={"amount": "10.00"})
    second = audit_record(
        action="payment.approved",
        actor=user,
        before={"status": "on_hold"},
        after={"status": "approved"},
        request=request,
    )
    # then
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.prev_hash == "0" * 64 and second.prev_hash == first.hash
    assert second.ip_address == "203.0.113.9" and second.request_id == "req-1"
    assert first.target_type == "core.organization" and first.organization_id == organization.pk
    assert second.actor_label.startswith(f"user:{user.pk}")
    assert audit_verify() == (True, None, "2 entries verified")


@pytest.mark.django_db
def test_verify_audit_log_command_names_first_tampered_entry(capsys):
    for i in range(5):
        audit_record(action="x", after={"i": i})
    call_command("verify_audit_log")
    assert "intact" in capsys.readouterr().out
    # when entry #3 is edited in the database
    _tamper("UPDATE compliance_auditentry SET after = %s WHERE sequence = 3", ['{"i": 99}'])
    # then
    with pytest.raises(CommandError, match="#3"):
        call_command("verify_audit_log")


@pytest.mark.django_db
def test_deleted_entry_is_detected():
    for i in range(4):
        audit_record(action="x", after={"i": i})
    _tamper("DELETE FROM compliance_auditentry WHERE sequence = 2", [])
    ok, sequence, message = audit_verify()
    assert (ok, sequence) == (False, 2)
    assert "missing" in message


@pytest.mark.django_db
def test_truncated_tail_is_detected():
    for i in range(3):
        audit_record(action="x", after={"i": i})
    _tamper("DELETE FROM compliance_auditentry WHERE sequence = 3", [])
    ok, sequence, _ = audit_verify()
    assert (ok, sequence) == (False, 3)


@pytest.mark.django_db
def test_rehashed_entry_breaks_the_link_to_the_next_one():
    from apps.compliance.services import audit_hash

    for i in range(3):
        audit_record(action="x", after={"i": i})
    # a forger who also recomputes the edited entry's hash still breaks entry #3's prev_hash
    entry = AuditEntry.objects.get(sequence=2)
    entry.after = {"i": 42}
    new_hash = audit_hash(entry)
    _tamper(
        "UPDATE compliance_auditentry SET after = %s, hash = %s WHERE sequence = 2", ['{"i": 42}', new_hash]
    )
    assert audit_verify()[:2] == (False, 3)


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_trigger_refuses_update_and_delete():
    from django.db import DatabaseError

    audit_record(action="x")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.update(action="y")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().action == "x"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_unbroken_chain():
    audit_record(action="seed")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                audit_record(action="concurrent", after={"thread": n, "i": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert list(AuditEntry.objects.values_list("sequence", flat=True)) == list(range(1, 62))
    assert audit_verify()[0] is True


@pytest.mark.django_db
def test_audit_entries_are_read_only_in_admin(admin_client_verified):
    entry = audit_record(action="x")
    response = admin_client_verified.get(f"/admin/compliance/auditentry/{entry.pk}/change/")
    assert response.status_code == 200
    assert b'name="action"' not in response.content  # no editable inputs
    assert admin_client_verified.get(f"/admin/compliance/auditentry/{entry.pk}/delete/").status_code == 403
    assert admin_client_verified.get("/admin/compliance/auditentry/add/").status_code == 403


@pytest.mark.django_db
def test_emptied_log_is_detected_through_the_chain_head():
    for i in range(3):
        audit_record(action="x", after={"i": i})
    # when every entry is removed behind the application's back
    _tamper("DELETE FROM compliance_auditentry", [])
    # then the head still remembers three entries
    ok, sequence, message = audit_verify()
    assert (ok, sequence) == (False, 1)
    assert "3 entries" in message
    with pytest.raises(CommandError, match="#1"):
        call_command("verify_audit_log")


@pytest.mark.django_db
def test_client_ip_behind_trusted_proxies(rf, settings):
    request = rf.post("/x", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.66, 203.0.113.5")
    # without trusted proxies the forwarded header is not believed
    assert audit_record(action="x", request=request).ip_address == "10.0.0.5"
    # behind one proxy, the address it appended is the client's (the first one may be forged)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert audit_record(action="x", request=request).ip_address == "203.0.113.5"
    assert audit_verify()[0] is True


@pytest.mark.django_db
def test_the_audit_trail_records_the_logged_request_id_not_a_clients_header(user, organization, rf):
    """The entry names the request as its log lines do: the id the request log bound, never an
    X-Request-ID a client made up (unless proxies are trusted, above)."""
    import structlog

    request = rf.post("/x", HTTP_X_REQUEST_ID="spoofed-1")
    assert (
        audit_record(action="payment.created", actor=user, target=organization, request=request).request_id
        == ""
    )
    structlog.contextvars.bind_contextvars(request_id="logged-7")
    try:
        entry = audit_record(action="payment.approved", actor=user, target=organization, request=request)
    finally:
        structlog.contextvars.clear_contextvars()
    assert entry.request_id == "logged-7"
