"""Sanctions list imports on the real formats, screening and re-screening."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from apps.compliance.models import Case, SanctionsEntity, SanctionsList
from apps.compliance.screening import importers
from apps.compliance.screening.index import SanctionsIndex, make_entity
from apps.compliance.screening.normalize import name_tokens, normalize_name
from apps.compliance.services import (
    SanctionsImportError,
    payment_compliance_decide,
    sanctions_import,
    screen_name,
)
from tests.compliance.factories import KycProfileFactory

DATA = Path(__file__).resolve().parents[2] / "apps" / "compliance" / "data" / "sanctions"


def test_ofac_legacy_csv_is_parsed_with_aliases_addresses_and_remarks():
    # given the three legacy files (no header, "-0-" nulls, trailing SUB byte)
    sdn, alt, add = ((DATA / "ofac" / n).read_bytes() for n in ("sdn.csv", "alt.csv", "add.csv"))
    # when
    parsed = importers.parse_ofac_csv(sdn, alt, add)
    # then
    by_id = {e.external_id: e for e in parsed.entities}
    assert len(by_id) == 8
    rashidi = by_id["10002"]
    assert rashidi.name == "AL-RASHIDI, Tariq Hamid"
    assert rashidi.entity_type == "individual"
    assert rashidi.programs == ["SDGT", "IRGC"]
    assert "AL-RASHEEDI, Tarik" in rashidi.aliases
    assert rashidi.dates_of_birth == ["1971-03-14", "1972"]
    assert rashidi.nationalities == ["IQ"]
    assert "0x7F367cC41522cE07553e823bf3be79A889DEbe1B" in rashidi.crypto_addresses
    assert "1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9V" in rashidi.crypto_addresses
    assert by_id["10001"].entity_type == "entity"  # "-0-" type
    assert by_id["10001"].countries == ["CU"]
    assert by_id["10005"].entity_type == "vessel"
    assert by_id["10007"].countries == ["AE"]


def test_ofac_xml_is_parsed():
    parsed = importers.parse_ofac_xml((DATA / "ofac" / "sdn.xml").read_bytes())
    by_id = {e.external_id: e for e in parsed.entities}
    assert parsed.published_at == "11/20/2026"
    assert by_id["10002"].name == "AL-RASHIDI, Tariq Hamid"
    assert "AL-RASHEEDI, Tarik" in by_id["10002"].aliases
    assert by_id["10002"].dates_of_birth[0] == "1971-03-14"
    assert by_id["10002"].nationalities == ["IQ"]
    assert by_id["10006"].crypto_addresses == ["TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE"]
    assert by_id["10005"].entity_type == "vessel"


def test_eu_xml_is_parsed_with_original_script_alias():
    parsed = importers.parse_eu_xml((DATA / "eu" / "consolidated.xml").read_bytes())
    by_id = {e.external_id: e for e in parsed.entities}
    ivanov = by_id["EU.9001.11"]
    assert ivanov.name == "Dmitri Sergeyevich IVANOV"
    assert "Дмитрий Сергеевич Иванов" in ivanov.aliases
    assert ivanov.nationalities == ["RU"] and ivanov.dates_of_birth == ["1968-11-02"]
    assert by_id["EU.9002.22"].entity_type == "enterprise"
    assert by_id["EU.9003.33"].dates_of_birth == ["1961"]


def test_un_xml_is_parsed():
    parsed = importers.parse_un_xml((DATA / "un" / "consolidated.xml").read_bytes())
    by_id = {e.external_id: e for e in parsed.entities}
    assert by_id["KPi.901"].name == "PAK CHOL SU"
    assert "Pak Chol-su" in by_id["KPi.901"].aliases
    assert by_id["KPi.901"].nationalities == ["KP"]
    assert by_id["QDi.902"].dates_of_birth == ["1979"]
    assert by_id["KPe.903"].entity_type == "entity"
    assert parsed.published_at.startswith("2026-11-20")


def test_wrong_format_and_hostile_xml_are_refused():
    with pytest.raises(importers.SanctionsFormatError):
        importers.parse_un_xml((DATA / "eu" / "consolidated.xml").read_bytes())
    billion_laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><export>&b;</export>'
    )
    parsed = importers.parse_eu_xml(billion_laughs)  # entities are not expanded
    assert parsed.entities == []


@pytest.mark.parametrize(
    ("fmt", "path", "source", "count"),
    [
        ("ofac-csv", "ofac/sdn.csv", "ofac", 8),
        ("ofac-xml", "ofac/sdn.xml", "ofac", 4),
        ("eu-xml", "eu/consolidated.xml", "eu", 3),
        ("un-xml", "un/consolidated.xml", "un", 3),
    ],
)
@pytest.mark.django_db
def test_import_sanctions_command(fmt, path, source, count, capsys):
    # when
    call_command("import_sanctions", "--format", fmt, str(DATA / path))
    # then
    lst = SanctionsList.objects.get(is_active=True, source=source)
    assert lst.entity_count == count == SanctionsEntity.objects.filter(sanctions_list=lst).count()
    assert "Imported" in capsys.readouterr().out
    # a second import of the same file changes nothing
    call_command("import_sanctions", "--format", fmt, str(DATA / path))
    assert SanctionsList.objects.filter(source=source).count() == 1
    assert "Unchanged" in capsys.readouterr().out


@pytest.mark.django_db
def test_new_version_replaces_old_one():
    first, _ = sanctions_import(fmt="ofac-xml", origin=str(DATA / "ofac" / "sdn.xml"))
    second, changed = sanctions_import(fmt="ofac-csv", origin=str(DATA / "ofac"))
    assert changed
    first.refresh_from_db()
    assert not first.is_active and second.is_active
    assert not SanctionsEntity.objects.filter(sanctions_list=first).exists()


@pytest.mark.django_db
def test_empty_list_is_refused_and_current_list_kept():
    sanctions_import(fmt="un-xml", origin=str(DATA / "un" / "consolidated.xml"))
    with pytest.raises(SanctionsImportError):
        sanctions_import(fmt="un-xml", origin="x", files=[b'<CONSOLIDATED_LIST dateGenerated="x"/>'])
    assert SanctionsList.objects.get(is_active=True, source="un").entity_count == 3


@pytest.mark.django_db
def test_import_from_url_with_a_local_server(httpserver_url):
    lst, changed = sanctions_import(fmt="un-xml", origin=httpserver_url + "un/consolidated.xml")
    assert changed and lst.entity_count == 3


@pytest.fixture
def httpserver_url():
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(DATA))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


# --- normalisation and matching ---------------------------------------------------------------


def test_normalisation():
    assert name_tokens("Sr. José  d'Ávila-Núñez") == ("jose", "davila", "nunez")
    assert normalize_name("IVANOV, Dmitri") == normalize_name("Dmitri Ivanov")
    assert normalize_name("Дмитрий Иванов") == "dmitriy ivanov"
    assert normalize_name("Vostok Maritime Trading OOO") == normalize_name("VOSTOK MARITIME TRADING LLC")
    assert normalize_name("Dr. Omar Khalil") == "khalil omar"


@pytest.fixture
def loaded(db):
    for fmt, path in (
        ("ofac-csv", "ofac"),
        ("eu-xml", "eu/consolidated.xml"),
        ("un-xml", "un/consolidated.xml"),
    ):
        sanctions_import(fmt=fmt, origin=str(DATA / path))


@pytest.mark.parametrize(
    ("name", "expected_id", "strength"),
    [
        ("Tariq Hamid Al-Rashidi", "10002", "strong"),  # word order
        ("AL RASHIDI TARIQ", "10002", "weak"),  # missing middle name: review
        ("Tarik Al-Rasheedi", "10002", "strong"),  # alias
        ("Mr. Tariq Hamid Al Rashidy", "10002", "strong"),  # honorific and typo
        ("Dmitri Ivanov", "10004", "strong"),
        ("Дмитрий Сергеевич Иванов", "EU.9001.11", "strong"),  # Cyrillic
        ("Dmitry Sergeevich Ivanov", "EU.9001.11", "strong"),  # transliteration variant
        ("Vostok Maritime Trading LLC", "10003", "strong"),  # company suffix
        ("Luis Alberto Hernández Ochoa", "10008", "strong"),  # accents
        ("Bachir El Haddad", "EU.9003.33", "strong"),
        ("Koryo General Trading Co", "KPe.903", "strong"),
    ],
)
def test_listed_names_are_found(loaded, name, expected_id, strength):
    hits = screen_name(name)
    assert hits, f"no hit for {name}"
    assert hits[0].external_id == expected_id
    assert hits[0].strength == strength


@pytest.mark.parametrize(
    "name", ["Maria Silva", "João Pereira", "Joseph Smith", "Ana Costa Lima", "Acme Trading"]
)
def test_common_names_are_clear(loaded, name):
    assert screen_name(name) == []


def test_dob_mismatch_weakens_a_hit(loaded):
    strong = screen_name("Omar Khalil", date_of_birth="1980-02-01")
    other = screen_name("Omar Khalil", date_of_birth="1999-02-01")
    assert strong and strong[0].details["dob"] == "match"
    assert not other or other[0].score < strong[0].score


def test_index_blocks_candidates_and_scores_the_best():
    index = SanctionsIndex(
        [
            make_entity(
                entity_id=1, source="ofac", external_id="1", name="Juan Carlos Pérez", aliases=["J. C. Perez"]
            ),
            make_entity(entity_id=2, source="ofac", external_id="2", name="Golden Crescent Exchange LLC"),
        ]
    )
    assert index.screen("Perez Juan", weak=0.85, strong=0.93)[0].entity_id == 1
    assert index.screen("Golden Cresent Exchange", weak=0.85, strong=0.93)[0].entity_id == 2
    assert index.screen("Pedro Alvares", weak=0.85, strong=0.93) == []


# --- decisions with sanctions -------------------------------------------------------------------


@pytest.mark.django_db
def test_strong_hit_blocks_payment(loaded, payment_factory):
    payment = payment_factory(payee_name="Tariq Hamid AL RASHIDI")
    result = payment_compliance_decide(payment=payment)
    assert result.decision == "block"
    assert result.reasons[0]["code"] == "sanctions_match" or "sanctions_match" in [
        r["code"] for r in result.reasons
    ]


@pytest.mark.django_db
def test_crypto_address_hit_blocks_payment(loaded, payment_factory):
    payment = payment_factory(
        payee_name="Some Wallet",
        selected_rail="usdc",
        payee_identifiers={"eth_address": "0x7f367cc41522ce07553e823bf3be79a889debe1b"},
    )
    result = payment_compliance_decide(payment=payment)
    assert result.decision == "block"
    hit = next(r for r in result.reasons if r["code"] == "sanctions_match")
    assert "crypto address" in hit["message"]


@pytest.mark.django_db
def test_weak_hit_goes_to_review(loaded, payment_factory):
    payment = payment_factory(payee_name="Omar Kalil")
    result = payment_compliance_decide(payment=payment)
    assert result.decision == "review", result.reasons
    case = Case.objects.get(pk=result.case_id)
    assert case.sanctions_hits[0]["external_id"] == "10006"


@pytest.mark.django_db
def test_list_change_rescreens_existing_counterparties(organization, django_capture_on_commit_callbacks):
    # given a counterparty who was clear before the list had him
    profile = KycProfileFactory(organization=organization, legal_name="Pak Chol Su")
    # when the UN list is imported (the re-screen runs after commit)
    with django_capture_on_commit_callbacks(execute=True):
        sanctions_import(fmt="un-xml", origin=str(DATA / "un" / "consolidated.xml"))
    # then
    profile.refresh_from_db()
    assert profile.screening_status == "strong"
    case = Case.objects.get(profile=profile, kind="rescreen")
    assert case.sanctions_hits[0]["external_id"] == "KPi.901"
