from __future__ import annotations

import pytest

from apps.intent.engine.parties import br_phone_valid, eip55_valid, parties_extract


def _kinds(text: str, **kw: object) -> list[tuple[str, str, bool | None, str | None]]:
    return [(p.kind, p.value, p.valid, p.subkind) for p in parties_extract(text, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("chave pix 529.982.247-25", ("pix_key", "52998224725", True, "cpf")),
        ("cpf 529.982.247-24", ("pix_key", "52998224724", False, "cpf")),
        ("cpf 111.111.111-11", ("pix_key", "11111111111", False, "cpf")),
        ("cnpj 11.222.333/0001-81", ("pix_key", "11222333000181", True, "cnpj")),
        ("cnpj 11.222.333/0001-80", ("pix_key", "11222333000180", False, "cnpj")),
        # the alphanumeric CNPJ (Receita Federal, from July 2026), example from the official spec
        ("cnpj 12.ABC.345/01DE-35", ("pix_key", "12ABC34501DE35", True, "cnpj")),
        ("cnpj 12.ABC.345/01DE-36", ("pix_key", "12ABC34501DE36", False, "cnpj")),
        (
            "chave 123e4567-e89b-12d3-a456-426614174000",
            ("pix_key", "123e4567-e89b-12d3-a456-426614174000", None, "evp"),
        ),
        ("IBAN DE89 3704 0044 0532 0130 00", ("iban", "DE89370400440532013000", True, None)),
        ("IBAN GB82 WEST 1234 5698 7654 32", ("iban", "GB82WEST12345698765432", True, None)),
        ("IBAN DE89 3704 0044 0532 0130 01", ("iban", "DE89370400440532013001", False, None)),
        ("payid jane@example.com", ("payid", "jane@example.com", None, "email")),
        ("PayID 0412 345 678", ("payid", "+61412345678", True, "phone")),
        ("PayID 51 824 753 556", ("payid", "51824753556", True, "abn")),
        ("BSB 062-000 acc 12345678", ("bsb_account", "062-000 12345678", None, None)),
        ("mail me at Ana.Silva@Example.com", ("email", "ana.silva@example.com", None, None)),
        ("pay @joao", ("mention", "joao", None, None)),
        ("call +1 415 555 2671", ("phone", "+14155552671", None, None)),
    ],
)
def test_identifiers(text: str, expected: tuple) -> None:
    assert expected in _kinds(text)


def test_pix_context_turns_email_and_phone_into_pix_keys() -> None:
    assert ("pix_key", "ana@gmail.com", None, "email") in _kinds("pix pro ana@gmail.com", pix_context=True)
    assert ("pix_key", "+5511987654321", True, "phone") in _kinds("pix +55 11 98765-4321", pix_context=True)
    assert ("phone", "+5511987654321", True, None) in _kinds("me liga +55 11 98765-4321")


def test_bic_with_keyword() -> None:
    assert ("bic", "DEUTDEFF", True, None) in _kinds("IBAN DE89 3704 0044 0532 0130 00 BIC DEUTDEFF")
    assert ("bic", "DEUT12FF", False, None) in _kinds("SWIFT: DEUT12FF")
    # an upper-case word without BIC/SWIFT is not a BIC
    assert not any(k == "bic" for k, *_ in _kinds("TRANSFER NOW"))


@pytest.mark.parametrize(
    "address",
    [
        # EIP-55 test vectors (github.com/ethereum/EIPs/blob/master/EIPS/eip-55.md)
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_eip55_official_vectors(address: str) -> None:
    assert eip55_valid(address) is True
    assert ("eth_address", address, True, None) in _kinds(f"send 10 USDC to {address}")


def test_eip55_wrong_case_fails_and_single_case_has_no_checksum() -> None:
    assert eip55_valid("0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed") is False
    assert eip55_valid("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") is None


def test_br_phone_rules() -> None:
    assert br_phone_valid("5511987654321")  # mobile: 9 + 8 digits
    assert br_phone_valid("551133334444")  # landline
    assert not br_phone_valid("5500987654321")  # no area code 00
    assert not br_phone_valid("551187654321")  # 8-digit number starting with 8 is neither


def test_names_pronouns_and_participants() -> None:
    kinds = _kinds("pay John tomorrow and tell him")
    assert ("name", "John", None, None) in kinds
    assert ("pronoun", "him", None, None) in kinds
    assert ("name", "Maria", None, None) in _kinds("pague a Maria amanhã")
    # weekday names after a cue are not people
    assert not any(k == "name" for k, *_ in _kinds("pay on Friday"))
    # conversation participants are found even in lower case
    assert ("name", "João", None, None) in _kinds("manda pro joão", participants=["João"])
