"""Parsers for the published sanctions list formats.

- OFAC SDN legacy CSV: ``sdn.csv`` + ``alt.csv`` + ``add.csv``, no header row,
  ``-0-`` for empty fields; dates of birth, nationality and digital currency
  addresses live in the free-text Remarks column.
- OFAC SDN XML (``sdn.xml``, ``sdnList`` / ``sdnEntry``).
- EU consolidated financial sanctions list XML (``export`` / ``sanctionEntity``).
- UN Security Council consolidated list XML (``CONSOLIDATED_LIST``).

Every parser returns ``ParsedList``: plain records ready for ``SanctionsEntity``.
XML is parsed with entity resolution and network access disabled.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

NULL = "-0-"

_COUNTRIES = {
    "afghanistan": "AF",
    "belarus": "BY",
    "burma": "MM",
    "myanmar": "MM",
    "china": "CN",
    "cuba": "CU",
    "iran": "IR",
    "iraq": "IQ",
    "lebanon": "LB",
    "libya": "LY",
    "north korea": "KP",
    "korea, north": "KP",
    "democratic people's republic of korea": "KP",
    "russia": "RU",
    "russian federation": "RU",
    "syria": "SY",
    "syrian arab republic": "SY",
    "venezuela": "VE",
    "yemen": "YE",
    "somalia": "SO",
    "sudan": "SD",
    "south sudan": "SS",
    "united arab emirates": "AE",
    "turkey": "TR",
    "turkiye": "TR",
    "pakistan": "PK",
    "saudi arabia": "SA",
    "ukraine": "UA",
    "brazil": "BR",
    "mexico": "MX",
    "colombia": "CO",
    "nicaragua": "NI",
    "mali": "ML",
    "united kingdom": "GB",
    "germany": "DE",
    "france": "FR",
    "spain": "ES",
    "portugal": "PT",
    "united states": "US",
    "cyprus": "CY",
    "hong kong": "HK",
    "jordan": "JO",
    "egypt": "EG",
}


def country_code(value: str) -> str:
    text = value.strip().strip(".").strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return _COUNTRIES.get(text.casefold(), text)


def _iso2(value: str | None) -> str:
    """An ISO alpha-2 attribute; the EU list writes ``00`` for "not stated", which is no country."""
    code = (value or "").strip().upper()
    return code if len(code) == 2 and code.isalpha() else ""


MAX_DOB_RANGE_YEARS = 15


def _year_range(start: str, end: str) -> list[str]:
    first, last = int(start), int(end)
    if first > last or last - first > MAX_DOB_RANGE_YEARS:
        return [start, end]
    return [str(y) for y in range(first, last + 1)]


@dataclass
class ParsedEntity:
    external_id: str
    name: str
    entity_type: str = "individual"
    aliases: list[str] = field(default_factory=list)
    dates_of_birth: list[str] = field(default_factory=list)
    nationalities: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    crypto_addresses: list[str] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    remarks: str = ""

    def as_fields(self) -> dict[str, Any]:
        return {
            "external_id": self.external_id[:64],
            "name": self.name[:500],
            "entity_type": self.entity_type[:20],
            "aliases": _unique(self.aliases),
            "dates_of_birth": _unique(self.dates_of_birth),
            "nationalities": _unique(self.nationalities),
            "countries": _unique(self.countries),
            "crypto_addresses": _unique(self.crypto_addresses),
            "programs": _unique(self.programs),
            "remarks": self.remarks,
        }


@dataclass
class ParsedList:
    source: str
    published_at: str
    entities: list[ParsedEntity]


class SanctionsFormatError(ValueError):
    """The file is not in the announced format."""


def _unique(values: list[str]) -> list[str]:
    seen: list[str] = []
    for v in values:
        v = v.strip()
        if v and v not in seen:
            seen.append(v)
    return seen


def _xml_root(data: bytes) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_comments=True)
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise SanctionsFormatError(f"Not well-formed XML: {exc}") from exc


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(node: Any, name: str) -> list[Any]:
    return [c for c in node if _local(c.tag) == name]


def _child(node: Any, name: str) -> Any:
    for c in node:
        if _local(c.tag) == name:
            return c
    return None


def _text(node: Any, name: str) -> str:
    c = _child(node, name)
    return (c.text or "").strip() if c is not None and c.text else ""


def _descendants(node: Any, name: str) -> list[Any]:
    return [c for c in node.iter() if _local(c.tag) == name]


# --- OFAC legacy CSV -------------------------------------------------------------------

_DATE = r"(?:[0-9]{1,2} [A-Z][a-z]{2} [0-9]{4}|[A-Z][a-z]{2} [0-9]{4}|[0-9]{4})"
_DOB = re.compile(rf"\bDOB ((?:circa |between )?{_DATE}(?: (?:to|and) {_DATE})?)")
_RANGE = re.compile(r"^(?:between )?.*?([0-9]{4}) (?:to|and) .*?([0-9]{4})$")
_NATIONALITY = re.compile(r"\b(?:nationality|citizen) ([A-Za-z ,'\-]+?)(?=;|\.|$)")
_CRYPTO = re.compile(r"Digital Currency Address - ([A-Z0-9]+) ([A-Za-z0-9]+)")


def _ofac_date(text: str) -> str:
    for fmt, out in (("%d %b %Y", "%Y-%m-%d"), ("%b %Y", "%Y-%m"), ("%Y", "%Y")):
        try:
            return datetime.strptime(text, fmt).strftime(out)
        except ValueError:
            continue
    return text


def _ofac_dates(text: str) -> list[str]:
    """OFAC writes ``14 Mar 1971``, ``Mar 1971``, ``1971``, ``circa 1962``, ``1960 to 1962`` and
    ``between 1952 and 1954``; ranges become each year in them."""
    text = " ".join(text.split())
    if text.casefold().startswith("circa "):
        text = text[6:]
    bounds = _RANGE.match(text)
    if bounds:
        return _year_range(bounds.group(1), bounds.group(2))
    return [_ofac_date(text)] if text else []


def _remarks_facts(remarks: str, entity: ParsedEntity) -> None:
    entity.dates_of_birth += [d for m in _DOB.findall(remarks) for d in _ofac_dates(m)]
    entity.nationalities += [country_code(m) for m in _NATIONALITY.findall(remarks)]
    entity.crypto_addresses += [addr for _cur, addr in _CRYPTO.findall(remarks)]


def _csv_rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8-sig", errors="replace").replace("\x1a", "")
    rows = []
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0].strip():
            continue
        rows.append([("" if c.strip() == NULL else c.strip()) for c in row])
    return rows


def parse_ofac_csv(sdn: bytes, alt: bytes | None = None, add: bytes | None = None) -> ParsedList:
    entities: dict[str, ParsedEntity] = {}
    for row in _csv_rows(sdn):
        if len(row) < 12 or not row[0].isdigit():
            raise SanctionsFormatError("sdn.csv rows have 12 columns starting with a numeric ent_num")
        ent_num, name, sdn_type, program, title = row[0], row[1], row[2], row[3], row[4]
        vess_flag, remarks = row[9], row[11]
        entity = ParsedEntity(
            external_id=ent_num,
            name=name,
            entity_type=(sdn_type or "entity").casefold(),
            programs=[p.strip(" []") for p in program.split("] [") if p.strip(" []")],
            remarks=" ".join(x for x in (title, remarks) if x),
        )
        if vess_flag:
            entity.countries.append(country_code(vess_flag))
        _remarks_facts(remarks, entity)
        entities[ent_num] = entity
    for row in _csv_rows(alt or b""):
        if len(row) >= 4 and row[0] in entities and row[3]:
            entities[row[0]].aliases.append(row[3])
    for row in _csv_rows(add or b""):
        if len(row) >= 5 and row[0] in entities and row[4]:
            entities[row[0]].countries.append(country_code(row[4]))
    return ParsedList(source="ofac", published_at="", entities=list(entities.values()))


# --- OFAC SDN XML ----------------------------------------------------------------------------


def _ofac_person_name(node: Any) -> str:
    last = _text(node, "lastName")
    first = _text(node, "firstName")
    return f"{last}, {first}" if first and last else (last or first)


def parse_ofac_xml(data: bytes) -> ParsedList:
    root = _xml_root(data)
    if _local(root.tag) != "sdnList":
        raise SanctionsFormatError("OFAC SDN XML has an sdnList root element")
    publish = _child(root, "publshInformation")
    published = _text(publish, "Publish_Date") if publish is not None else ""
    entities = []
    for entry in _children(root, "sdnEntry"):
        entity = ParsedEntity(
            external_id=_text(entry, "uid"),
            name=_ofac_person_name(entry),
            entity_type=(_text(entry, "sdnType") or "entity").casefold(),
            remarks=_text(entry, "remarks"),
        )
        entity.programs += [(p.text or "").strip() for p in _descendants(entry, "program")]
        entity.aliases += [_ofac_person_name(aka) for aka in _descendants(entry, "aka")]
        entity.dates_of_birth += [
            d for node in _descendants(entry, "dateOfBirth") for d in _ofac_dates(node.text or "")
        ]
        for tag in ("nationality", "citizenship"):
            for node in _descendants(entry, tag):
                entity.nationalities.append(country_code(_text(node, "country")))
        for address in _descendants(entry, "address"):
            if _text(address, "country"):
                entity.countries.append(country_code(_text(address, "country")))
        for ident in _descendants(entry, "id"):
            if _text(ident, "idType").startswith("Digital Currency Address"):
                entity.crypto_addresses.append(_text(ident, "idNumber"))
        _remarks_facts(entity.remarks, entity)
        entities.append(entity)
    return ParsedList(source="ofac", published_at=published, entities=entities)


# --- EU consolidated XML ------------------------------------------------------------------------


def parse_eu_xml(data: bytes) -> ParsedList:
    root = _xml_root(data)
    if _local(root.tag) != "export":
        raise SanctionsFormatError("EU consolidated list XML has an export root element")
    entities = []
    for node in _children(root, "sanctionEntity"):
        subject = _child(node, "subjectType")
        code = subject.get("code", "") if subject is not None else ""
        names = [a.get("wholeName", "").strip() for a in _children(node, "nameAlias")]
        names = [n for n in names if n]
        if not names:
            continue
        entity = ParsedEntity(
            external_id=node.get("euReferenceNumber") or node.get("logicalId", ""),
            name=names[0],
            aliases=names[1:],
            entity_type="individual" if code == "person" else (code or "entity"),
            remarks=_text(node, "remark"),
        )
        entity.programs += [
            r.get("programme", "") for r in _children(node, "regulation") if r.get("programme")
        ]
        for b in _children(node, "birthdate"):
            value = b.get("birthdate") or b.get("year") or ""
            if value:
                entity.dates_of_birth.append(value)
        entity.nationalities += [
            code for c in _children(node, "citizenship") if (code := _iso2(c.get("countryIso2Code")))
        ]
        entity.countries += [
            code for a in _children(node, "address") if (code := _iso2(a.get("countryIso2Code")))
        ]
        entities.append(entity)
    return ParsedList(source="eu", published_at=root.get("generationDate", ""), entities=entities)


# --- UN consolidated XML --------------------------------------------------------------------------


def parse_un_xml(data: bytes) -> ParsedList:
    root = _xml_root(data)
    if _local(root.tag) != "CONSOLIDATED_LIST":
        raise SanctionsFormatError("UN consolidated list XML has a CONSOLIDATED_LIST root element")
    entities = []
    for kind, tag, alias_tag in (
        ("individual", "INDIVIDUAL", "INDIVIDUAL_ALIAS"),
        ("entity", "ENTITY", "ENTITY_ALIAS"),
    ):
        for node in _descendants(root, tag):
            parts = [_text(node, t) for t in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")]
            name = " ".join(p for p in parts if p)
            if not name:
                continue
            entity = ParsedEntity(
                external_id=_text(node, "REFERENCE_NUMBER") or _text(node, "DATAID"),
                name=name,
                entity_type=kind,
                programs=[_text(node, "UN_LIST_TYPE")] if _text(node, "UN_LIST_TYPE") else [],
                remarks=_text(node, "COMMENTS1"),
            )
            original = _text(node, "NAME_ORIGINAL_SCRIPT")
            if original:
                entity.aliases.append(original)
            entity.aliases += [
                _text(a, "ALIAS_NAME") for a in _children(node, alias_tag) if _text(a, "ALIAS_NAME")
            ]
            for dob in _children(node, "INDIVIDUAL_DATE_OF_BIRTH"):
                # EXACT / APPROXIMATELY carry DATE or YEAR; BETWEEN carries FROM_YEAR and TO_YEAR.
                value = _text(dob, "DATE") or _text(dob, "YEAR")
                if value:
                    entity.dates_of_birth.append(value)
                elif _text(dob, "FROM_YEAR").isdigit() and _text(dob, "TO_YEAR").isdigit():
                    entity.dates_of_birth += _year_range(_text(dob, "FROM_YEAR"), _text(dob, "TO_YEAR"))
            for nat in _children(node, "NATIONALITY"):
                entity.nationalities += [
                    country_code(v.text or "") for v in _children(nat, "VALUE") if v.text
                ]
            for addr in _children(node, "INDIVIDUAL_ADDRESS") + _children(node, "ENTITY_ADDRESS"):
                if _text(addr, "COUNTRY"):
                    entity.countries.append(country_code(_text(addr, "COUNTRY")))
            entities.append(entity)
    return ParsedList(source="un", published_at=root.get("dateGenerated", ""), entities=entities)
