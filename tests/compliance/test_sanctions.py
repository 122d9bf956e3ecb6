"""Sanctions list imports on the real formats, screening and re-screening."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.compliance.models import Case, SanctionsEntity, SanctionsList
from apps.compliance.screening import importers
from apps.compliance.screening.index import SanctionsIndex, make_entity
from apps.compliance.screening.normalize import name_tokens, normalize_name
from apps.compliance.services import (
    SanctionsImportError,
    payment_compliance_decide,
    sanctions_fetch,
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
    assert by_id["10004"].dates_of_birth == ["1968-11-02", "1966", "1967"]  # "alt. DOB 1966 to 1967"
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
    assert by_id["10006"].dates_of_birth == ["1980", "1979"]  # "circa 1979"
    assert by_id["10005"].entity_type == "vessel"


def test_eu_xml_is_parsed_with_original_script_alias():
    parsed = importers.parse_eu_xml((DATA / "eu" / "consolidated.xml").read_bytes())
    by_id = {e.external_id: e for e in parsed.entities}
    ivanov = by_id["EU.9001.11"]
    assert ivanov.name == "Dmitri Sergeyevich IVANOV"
    assert "Дмитрий Сергеевич Иванов" in ivanov.aliases
    assert ivanov.nationalities == ["RU"] and ivanov.dates_of_birth == ["1968-11-02"]
    assert by_id["EU.9002.22"].entity_type == "enterprise"
    # the second birth date is circa, with the "00" (not stated) country; the "00" citizenship is dropped
    assert by_id["EU.9003.33"].dates_of_birth == ["1961", "1962"]
    assert by_id["EU.9003.33"].nationalities == ["SY"]


def test_un_xml_is_parsed():
    parsed = importers.parse_un_xml((DATA / "un" / "consolidated.xml").read_bytes())
    by_id = {e.external_id: e for e in parsed.entities}
    assert by_id["KPi.901"].name == "PAK CHOL SU"
    assert "Pak Chol-su" in by_id["KPi.901"].aliases
    assert by_id["KPi.901"].nationalities == ["KP"]
    assert by_id["QDi.902"].dates_of_birth == ["1979", "1977", "1978"]  # APPROXIMATELY + BETWEEN
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
    lst, changed = sanctions_import(fmt="un-xml", origin=httpserver_url() + "un/consolidated.xml")
    assert changed and lst.entity_count == 3


@pytest.fixture
def ofac_upper_case(tmp_path):
    """The legacy files as OFAC's list service names them: SDN.CSV, ALT.CSV, ADD.CSV."""
    for name in ("sdn.csv", "alt.csv", "add.csv"):
        (tmp_path / name.upper()).write_bytes((DATA / "ofac" / name).read_bytes())
    return tmp_path


@pytest.mark.django_db
def test_ofac_csv_with_upper_case_names_from_a_folder_and_a_url(ofac_upper_case, httpserver_url):
    # from the folder, aliases and addresses come from ALT.CSV and ADD.CSV
    lst, _ = sanctions_import(fmt="ofac-csv", origin=str(ofac_upper_case / "SDN.CSV"))
    rashidi = SanctionsEntity.objects.get(sanctions_list=lst, external_id="10002")
    assert "AL-RASHEEDI, Tarik" in rashidi.aliases and rashidi.countries == ["IQ"]
    # from a URL naming SDN.CSV, the other two are fetched as ALT.CSV and ADD.CSV
    served = httpserver_url(ofac_upper_case)
    files = sanctions_fetch(fmt="ofac-csv", origin=served + "SDN.CSV")
    assert [len(f) for f in files] == [
        len((DATA / "ofac" / n).read_bytes()) for n in ("sdn.csv", "alt.csv", "add.csv")
    ]


@pytest.fixture
def httpserver_url():
    import functools
    import http.server
    import threading

    servers = []

    def serve(directory=DATA):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
        handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
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


def test_a_listed_birth_year_range_counts_as_a_match(loaded):
    # given IVANOV (10004) listed with DOB 02 Nov 1968 and "alt. DOB 1966 to 1967"
    in_range = screen_name("Dmitri Sergeyevich Ivanov", date_of_birth="1967-05-01")
    outside = screen_name("Dmitri Sergeyevich Ivanov", date_of_birth="1990-05-01")
    ofac = [h for h in in_range if h.external_id == "10004"]
    assert ofac and ofac[0].details["dob"] == "match"
    assert all(h.details.get("dob") == "mismatch" for h in outside if h.external_id == "10004")


# --- re-screening of counterparties known only from payments ----------------------------------------


UN_XML = (DATA / "un" / "consolidated.xml").read_bytes()


def _import_un(content: bytes, capture) -> None:
    with capture(execute=True):
        sanctions_import(fmt="un-xml", origin="test", files=[content])


@pytest.mark.django_db
def test_payee_without_profile_is_rescreened_when_a_list_changes(
    organization, payment_factory, django_capture_on_commit_callbacks
):
    from apps.compliance.models import ScreeningResult

    # given a payee we paid last month, known only by name in the payment
    payment_factory(payee_ref="pak", payee_name="Pak Chol-su", status="succeeded")
    payment_factory(payee_ref="maria", payee_name="Maria Silva", status="succeeded")
    # when the UN list naming him is imported
    _import_un(UN_XML, django_capture_on_commit_callbacks)
    # then a re-screening case names the payee, with his payment history
    case = Case.objects.get(kind="rescreen", party_ref="pak")
    assert case.profile is None and case.payment is None and case.organization_id == organization.pk
    assert case.sanctions_hits[0]["external_id"] == "KPi.901"
    assert case.counterparty_history["payments"] == 1
    result = ScreeningResult.objects.get(party_ref="pak")
    active = SanctionsList.objects.get(is_active=True, source="un")
    assert result.outcome == "strong" and result.lists_version == f"un:{active.pk}"
    assert not ScreeningResult.objects.filter(party_ref="maria").exists()  # clear payees leave no row


@pytest.mark.django_db
def test_a_decided_rescreen_case_is_not_raised_again_for_the_same_entries(
    organization, payment_factory, django_capture_on_commit_callbacks
):
    payment_factory(payee_ref="pak", payee_name="Pak Chol-su", status="succeeded")
    _import_un(UN_XML, django_capture_on_commit_callbacks)
    # given the reviewer decided the case (e.g. a confirmed false positive)
    Case.objects.filter(party_ref="pak").update(status="approved", decided_at=timezone.now())
    # when the list changes again without new entries for him
    _import_un(UN_XML.replace(b"Financier.", b"Financier of a network."), django_capture_on_commit_callbacks)
    # then no new case
    assert Case.objects.filter(party_ref="pak").count() == 1
    # and while a case is open, a further change adds none either
    Case.objects.filter(party_ref="pak").update(status="open", decided_at=None)
    _import_un(UN_XML.replace(b"Financier.", b"Financier, again."), django_capture_on_commit_callbacks)
    assert Case.objects.filter(party_ref="pak").count() == 1


@pytest.mark.django_db
def test_payees_paid_long_ago_are_not_rescreened(
    organization, payment_factory, settings, django_capture_on_commit_callbacks
):
    from apps.payments.models import OrchestrationPayment

    settings.COMPLIANCE_RESCREEN_PAYEE_DAYS = 30
    old = payment_factory(payee_ref="pak", payee_name="Pak Chol-su", status="succeeded")
    OrchestrationPayment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    _import_un(UN_XML, django_capture_on_commit_callbacks)
    assert not Case.objects.filter(party_ref="pak").exists()


@pytest.mark.django_db
def test_payment_names_of_a_profiled_party_are_rescreened_too(
    organization, payment_factory, django_capture_on_commit_callbacks
):
    from apps.compliance.models import ScreeningResult

    # given a profile with a clear legal name, paid under a name that the new list carries
    profile = KycProfileFactory(organization=organization, party_ref="bob", legal_name="Robert Brown")
    payment_factory(payee_ref="bob", payee_name="Pak Chol Su", status="succeeded")
    payment_factory(payee_ref="bob", payee_name="Pak Chol Su", status="succeeded")
    # when
    _import_un(UN_XML, django_capture_on_commit_callbacks)
    # then the profile itself is clear, but the name used in payments opens one case for the party
    profile.refresh_from_db()
    assert profile.screening_status == "clear"
    assert list(
        ScreeningResult.objects.filter(party_ref="bob").values_list("outcome", flat=True).order_by("id")
    ) == [
        "clear",
        "strong",
    ]
    assert Case.objects.get(party_ref="bob").sanctions_hits[0]["external_id"] == "KPi.901"


def _reference_coverage(src: tuple[str, ...], dst: tuple[str, ...]) -> float:
    """The per-direction definition: length-weighted mean over ``src`` of its best match in ``dst``."""
    from rapidfuzz.distance import JaroWinkler

    total, weight = 0.0, 0
    for s in src:
        best = max((float(JaroWinkler.normalized_similarity(s, d)) for d in dst), default=0.0)
        total += best * len(s)
        weight += len(s)
    return total / weight if weight else 0.0


def test_both_coverages_from_one_pass_equal_the_per_direction_definition():
    import random

    from apps.compliance.screening.index import _coverages

    # given token lists drawn from names with accents, repeats, one-letter and empty tokens
    rng = random.Random(7)
    words = [
        "maria",
        "mária",
        "jose",
        "josé",
        "da",
        "silva",
        "silvia",
        "al",
        "abdul",
        "rahman",
        "x",
        "ivanov",
    ]
    words += ["".join(rng.choice("abcdeéfgh") for _ in range(rng.randint(1, 9))) for _ in range(40)]
    for _ in range(3000):
        query = tuple(rng.choice(words) for _ in range(rng.randint(0, 4)))
        tokens = tuple(rng.choice(words) for _ in range(rng.randint(0, 5)))
        # when both coverages are computed in one pass
        cov_e, cov_q = _coverages(query, tokens)
        # then each equals its own direction's definition exactly
        assert cov_e == _reference_coverage(tokens, query)
        assert cov_q == _reference_coverage(query, tokens)


def test_screening_batched_similarities_equal_the_pairwise_ones():
    import random

    import numpy as np
    from rapidfuzz.distance import JaroWinkler
    from rapidfuzz.process import cdist

    from apps.compliance.screening.index import name_similarity

    # given names with accents, one-letter tokens and near-misses
    rng = random.Random(11)
    words = ["maria", "mária", "jose", "josé", "da", "silva", "silvia", "al", "abdul", "x", "ivanov"]
    words += ["".join(rng.choice("abcdeéfghs") for _ in range(rng.randint(1, 9))) for _ in range(60)]
    for _ in range(2000):
        query = tuple(rng.choice(words) for _ in range(rng.randint(1, 4)))
        tokens = tuple(rng.choice(words) for _ in range(rng.randint(1, 5)))
        q_sorted, e_sorted = " ".join(sorted(query)), " ".join(sorted(tokens))
        # when the Jaro-Winkler scores come from rapidfuzz's batched call, as screen() gets them
        pairs = cdist(query, list(tokens), scorer=JaroWinkler.normalized_similarity, dtype=np.float64)
        sims = dict(zip(tokens, pairs.T.tolist(), strict=False))
        whole = cdist([q_sorted], [e_sorted], scorer=JaroWinkler.normalized_similarity, dtype=np.float64)[0][
            0
        ]
        # then the similarity is the one computed pair by pair (rapidfuzz's batched code may differ
        # in the last bit of a double; scores are kept to four decimals)
        batched = name_similarity(query, q_sorted, tokens, e_sorted, whole=float(whole), sims=sims)
        assert batched == pytest.approx(name_similarity(query, q_sorted, tokens, e_sorted), abs=1e-12)
