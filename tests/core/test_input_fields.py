"""``InputFieldsMixin``: an input serializer's fields copied once per class validate as DRF's own."""

from __future__ import annotations

import threading

import pytest
from rest_framework import serializers

from apps.core.fastserializers import InputFieldsMixin
from apps.payments.api.serializers import PaymentOrchestrationRequestSerializer

GOOD = {
    "amount": "120.50",
    "currency": "BRL",
    "payer_country": "BR",
    "payee_country": "BR",
    "payee_identifiers": {"pix_key": "ana@example.com"},
    "payer_ref": "ana",
    "language": "PT-br",
}
BAD = {**GOOD, "amount": "-1", "urgency": "x", "payee_identifiers": {"pix_key": "y" * 300, "fax": "1"}}


class _Plain(PaymentOrchestrationRequestSerializer):
    """DRF's own behaviour: the declared fields deep-copied for every instance."""

    def get_fields(self):
        return serializers.Serializer.get_fields(self)


def _plain(data):
    return _Plain(data=data)


@pytest.mark.parametrize("data", [GOOD, BAD, {}, {**GOOD, "conversation": "not-a-uuid", "amount": "1e400"}])
def test_validated_data_and_errors_equal_drfs(data):
    ours, drfs = PaymentOrchestrationRequestSerializer(data=data), _plain(data)
    assert ours.is_valid() == drfs.is_valid()
    assert ours.errors == drfs.errors
    if not ours.errors:
        assert ours.validated_data == drfs.validated_data


def test_fields_are_shared_per_class_but_bound_per_instance():
    a, b = PaymentOrchestrationRequestSerializer(data=GOOD), PaymentOrchestrationRequestSerializer(data=BAD)
    assert PaymentOrchestrationRequestSerializer._input_built_fields is not None  # the shared copies
    assert a.fields["amount"] is not b.fields["amount"]
    assert a.fields["amount"].parent is a and b.fields["amount"].parent is b
    assert a.is_valid() and not b.is_valid()  # each keeps its own errors


def test_a_field_that_reads_context_keeps_drfs_deep_copy():
    class WithUser(InputFieldsMixin, serializers.Serializer):
        amount = serializers.DecimalField(max_digits=5, decimal_places=2)
        user = serializers.HiddenField(default=serializers.CurrentUserDefault())

    first = WithUser(data={"amount": "1.00"}, context={"request": type("R", (), {"user": "ana"})()})
    assert first.is_valid() and first.validated_data["user"] == "ana"
    assert WithUser._input_built_fields is None
    second = WithUser(data={"amount": "2.00"}, context={"request": type("R", (), {"user": "bo"})()})
    assert second.is_valid() and second.validated_data["user"] == "bo"


def test_concurrent_validations_do_not_mix():
    errors = []

    def validate(data, expect_valid):
        for _ in range(300):
            s = PaymentOrchestrationRequestSerializer(data=data)
            if s.is_valid() != expect_valid:
                errors.append(s.errors)

    threads = [threading.Thread(target=validate, args=(d, ok)) for d, ok in ((GOOD, True), (BAD, False)) * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_default_or_validator_that_reads_context_keeps_drfs_deep_copy():
    class WithCreateOnly(InputFieldsMixin, serializers.Serializer):
        ref = serializers.CharField(default=serializers.CreateOnlyDefault("new"))

    class ContextValidator:
        requires_context = True

        def __call__(self, value, field):
            return value

    class WithValidator(InputFieldsMixin, serializers.Serializer):
        ref = serializers.CharField(validators=[ContextValidator()])

    for cls in (WithCreateOnly, WithValidator):
        assert cls(data={"ref": "a"}).is_valid()
        assert cls._input_built_fields is None
