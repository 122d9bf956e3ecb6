"""PII encrypted at rest, key rotation, blind-index search, masking."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from djmoney.money import Money

from apps.compliance.crypto import blind_index, mask_value
from apps.compliance.models import AuditEntry, KycProfile
from apps.compliance.services import InvalidTaxId, kyc_profile_search, kyc_profile_upsert

pytestmark = pytest.mark.django_db


def _raw(profile, column):
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {column} FROM compliance_kycprofile WHERE id = %s",
            [profile.pk.hex if connection.vendor == "sqlite" else profile.pk],
        )
        return cur.fetchone()[0]


def test_pii_is_encrypted_at_rest_and_searchable(organization):
    # given
    profile = kyc_profile_upsert(
        organization=organization,
        party_ref="ana",
        legal_name="Ana Souza",
        tax_id="390.533.447-05",
        iban="DE89 3704 0044 0532 0130 00",
        phone="+55 11 91234-5678",
        tier="basic",
    )
    # then the database holds tokens only
    for column, plain in (("legal_name", "Ana Souza"), ("tax_id", "390.533.447-05"), ("iban", "DE89")):
        raw = _raw(profile, column)
        assert raw.startswith("fernet:") and plain not in raw
    # and Python sees plaintext
    assert KycProfile.objects.get(pk=profile.pk).tax_id == "390.533.447-05"
    # and exact search works through the blind index, whatever the formatting
    assert list(kyc_profile_search(organization=organization, tax_id="39053344705")) == [profile]
    assert list(kyc_profile_search(organization=organization, iban="de89370400440532013000")) == [profile]
    assert not kyc_profile_search(organization=organization, tax_id="11144477735").exists()
    # and the audit entry carries masked values only
    entry = AuditEntry.objects.get(action="kyc.profile_saved")
    assert "Ana Souza" not in str(entry.after) and entry.after["tax_id"].endswith("7-05")


def test_invalid_cpf_is_refused(organization):
    with pytest.raises(InvalidTaxId):
        kyc_profile_upsert(organization=organization, party_ref="x", tax_id="123.456.789-00", country="BR")


def test_rotate_keys_re_encrypts_with_the_newest_key(organization, settings):
    # given data written with the old key
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    profile = kyc_profile_upsert(organization=organization, party_ref="ana", legal_name="Ana Souza")
    before = _raw(profile, "legal_name")
    # when a new key is put first and rotate_keys runs
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_keys")
    # then the token changed and the new key alone can read it
    after = _raw(profile, "legal_name")
    assert after != before
    assert Fernet(new_key.encode()).decrypt(after.removeprefix("fernet:").encode()) == b"Ana Souza"
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert KycProfile.objects.get(pk=profile.pk).legal_name == "Ana Souza"


def test_masking():
    assert mask_value("Ana Souza") == "A** S****"
    assert mask_value("DE89370400440532013000") == "******************3000"
    assert blind_index("390.533.447-05") == blind_index("39053344705")


def test_admin_list_masks_names_and_searches_by_blind_index(organization, admin_client_verified):
    kyc_profile_upsert(
        organization=organization, party_ref="ana", legal_name="Ana Souza", tax_id="390.533.447-05"
    )
    page = admin_client_verified.get("/admin/compliance/kycprofile/")
    assert page.status_code == 200
    assert b"Ana Souza" not in page.content and b"A** S****" in page.content
    found = admin_client_verified.get("/admin/compliance/kycprofile/", {"q": "39053344705"})
    assert b"ana" in found.content and b"0 kyc profiles" not in found.content.lower()


def test_case_context_and_logs_carry_no_plaintext_identifiers(
    organization, payment_factory, settings, capsys, caplog
):
    from apps.compliance.models import Case
    from apps.compliance.reports import case_sar_draft
    from apps.compliance.services import case_context_gather, payment_compliance_decide
    from apps.conversations.models import Conversation, ConversationMessage

    # given a conversation where the payer typed a CPF, an IBAN and a phone number
    conversation = Conversation.objects.create(
        organization=organization, platform="telegram", external_conversation_id="c-1"
    )
    message = ConversationMessage.objects.create(
        conversation=conversation,
        sender_name="Ana",
        message_text="pay 5000 USD to CPF 390.533.447-05, IBAN DE89370400440532013000, +55 11 91234-5678",
    )
    kyc_profile_upsert(
        organization=organization,
        party_ref="ana",
        legal_name="Ana Souza",
        tax_id="390.533.447-05",
        tier="full",
    )
    settings.COMPLIANCE_REVIEW_SCORE = 0
    payment = payment_factory(
        payer_ref="ana", conversation=conversation, conversation_message=message, amount=Money("100", "USD")
    )
    # when the payment is flagged (and its case's context gathered)
    result = payment_compliance_decide(payment=payment)
    case = case_context_gather(case=Case.objects.get(pk=result.case_id))
    # then the excerpt, the SAR draft and the logs hold masked identifiers only
    stored = str(case.conversation_excerpt) + case_sar_draft(case=case)
    logged = capsys.readouterr().err + caplog.text
    for plain in ("390.533.447-05", "DE89370400440532013000", "91234-5678", "Ana Souza"):
        assert plain not in stored and plain not in logged
    assert "***.***.***-05" in str(case.conversation_excerpt)
