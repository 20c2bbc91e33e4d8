"""The columns of an import's CSV: English and French headers, and each row as a request body
of `POST /customers` (the profiles schema validates it, not this module). Pure functions."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

LIST_SEPARATORS = re.compile(r"[|,]")
PHONE_SEPARATORS = re.compile(r"[|]")
# A cell that a spreadsheet would run as a formula, as our export neutralises it: `'=...`.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "oui", "o", "vrai", "x"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "non", "faux"})
KIND_WORDS = {
    "individual": "individual",
    "person": "individual",
    "particulier": "individual",
    "personne": "individual",
    "company": "company",
    "business": "company",
    "entreprise": "company",
    "societe": "company",
    "professionnel": "company",
}


class NotCsv(ValueError):
    """The file cannot be read as a CSV of customers (the message says why)."""


# --- header -------------------------------------------------------------------------------------
def header_key(name: str) -> str:
    """A header as compared: accents, case, spaces, dashes and underscores left out."""
    decomposed = unicodedata.normalize("NFKD", name.strip().lstrip("\ufeff"))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[\s_\-.'’]+", "", plain.casefold())


# Column name (English or the usual French) -> where its value goes in the request body.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "kind": ("kind", "type", "typedeclient", "genredeclient", "categorie"),
    "first_name": ("first_name", "firstname", "givenname", "prenom"),
    "last_name": ("last_name", "lastname", "surname", "familyname", "nom", "nomdefamille"),
    "company_name": (
        "company_name",
        "company",
        "companyname",
        "societe",
        "entreprise",
        "raisonsociale",
        "organisation",
        "organization",
    ),
    "email": ("email", "e-mail", "mail", "emailaddress", "courriel", "adresseemail", "adressemail"),
    "website": ("website", "web", "url", "siteweb", "siteinternet", "site"),
    "birth_date": ("birth_date", "birthdate", "dateofbirth", "birthday", "datedenaissance"),
    "gender": ("gender", "sexe", "genre"),
    "language": ("language", "locale", "langue"),
    "phones": (
        "phones",
        "phone",
        "phonenumber",
        "telephone",
        "telephones",
        "tel",
        "mobile",
        "portable",
        "numerodetelephone",
    ),
    "address.street": ("address.street", "street", "address", "adresse", "rue", "addressstreet"),
    "address.postal_code": (
        "address.postal_code",
        "postal_code",
        "postalcode",
        "postcode",
        "zip",
        "zipcode",
        "codepostal",
        "cp",
        "addresspostalcode",
    ),
    "address.city": ("address.city", "city", "town", "ville", "commune", "addresscity"),
    "address.region": (
        "address.region",
        "region",
        "state",
        "province",
        "departement",
        "addressregion",
    ),
    "address.country": ("address.country", "country", "pays", "addresscountry"),
    "email_consent": ("email_consent", "emailconsent", "consentementemail", "optinemail"),
    "newsletter_subscribed": (
        "newsletter_subscribed",
        "newslettersubscribed",
        "newsletter",
        "abonnenewsletter",
        "inscritnewsletter",
    ),
    "newsletter_lists": ("newsletter_lists", "newsletterlists", "listesnewsletter"),
    "is_supplier": ("is_supplier", "issupplier", "supplier", "fournisseur"),
    "status": ("status", "statut"),
    "notes": ("notes", "note", "comment", "comments", "commentaire", "commentaires", "remarques"),
    "discount_percent": ("discount_percent", "discountpercent", "discount", "remise", "remisepct"),
    "billing.legal_name": (
        "billing.legal_name",
        "billinglegalname",
        "legalname",
        "raisonsocialefacturation",
    ),
    "billing.vat_number": (
        "billing.vat_number",
        "billingvatnumber",
        "vatnumber",
        "vat",
        "tva",
        "numerodetva",
        "numerotva",
        "tvaintracommunautaire",
    ),
    "billing.fiscal_code": ("billing.fiscal_code", "billingfiscalcode", "fiscalcode", "codefiscal"),
    "source.channel": ("source.channel", "sourcechannel", "source", "canal", "provenance"),
    "source.campaign": ("source.campaign", "sourcecampaign", "campaign", "campagne"),
    "source.utm_source": ("source.utm_source", "utm_source", "utmsource"),
    "source.utm_medium": ("source.utm_medium", "utm_medium", "utmmedium"),
    "source.utm_campaign": ("source.utm_campaign", "utm_campaign", "utmcampaign"),
    "consent.source": (
        "consent.source",
        "consentsource",
        "sourceduconsentement",
        "consentementsource",
    ),
    "consent.obtained_at": (
        "consent.obtained_at",
        "consentobtainedat",
        "consentdate",
        "dateduconsentement",
        "consentementdate",
    ),
    "tags": ("tags", "tag", "etiquettes", "etiquette", "libelles"),
}
HEADERS: dict[str, str] = {
    header_key(alias): target for target, aliases in _COLUMNS.items() for alias in aliases
}
BOOLEAN_TARGETS = frozenset({"email_consent", "newsletter_subscribed", "is_supplier"})


@dataclass(frozen=True)
class Header:
    """The file's columns: where each goes (None: not recognised, ignored) and their names."""

    names: tuple[str, ...]
    targets: tuple[str | None, ...]

    @property
    def unknown(self) -> list[str]:
        return [name for name, target in zip(self.names, self.targets, strict=True) if not target]


def read_header(names: list[str]) -> Header:
    """The header row understood; NotCsv when it recognises no column or names one twice."""
    cleaned = tuple(name.strip().lstrip("\ufeff") for name in names)
    targets: list[str | None] = []
    seen: dict[str, str] = {}
    for name in cleaned:
        target = HEADERS.get(header_key(name))
        if target is not None and target in seen:
            raise NotCsv(f"the columns {seen[target]!r} and {name!r} are the same field ({target})")
        if target is not None:
            seen[target] = name
        targets.append(target)
    if not seen:
        raise NotCsv(
            "the header row names no known column (e.g. first_name, last_name, email, or Nom, "
            "Prénom, Email)"
        )
    return Header(cleaned, tuple(targets))


def unneutralised(cell: str) -> str:
    """A cell as typed: the `'` an export puts before a formula-like cell taken off again."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in FORMULA_STARTS:
        return cell[1:]
    return cell


def row_body(header: Header, cells: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The request body of `POST /customers` a row stands for, and its tag names.

    Blank cells are left out. Booleans are read in English or French (`oui`, `non`, `vrai`...);
    any other word stays as written so that the schema refuses it under the field's name. A row
    without a `kind` is a company when it has a company name and no person's name.
    """
    body: dict[str, Any] = {}
    tags: list[str] = []
    for target, raw in zip(header.targets, cells, strict=False):
        if target is None:
            continue
        cell = unneutralised(raw).strip()
        if not cell:
            continue
        if target == "tags":
            tags = _tag_names(cell)
            continue
        value: Any = cell
        if target in BOOLEAN_TARGETS:
            value = _boolean(cell)
        elif target == "phones":
            value = [
                {"number": number.strip()}
                for number in PHONE_SEPARATORS.split(cell)
                if number.strip()
            ]
        elif target == "newsletter_lists":
            value = [name.strip() for name in LIST_SEPARATORS.split(cell) if name.strip()]
        elif target == "kind":
            value = KIND_WORDS.get(header_key(cell), cell)
        elif target == "gender":
            value = _GENDERS.get(header_key(cell), cell)
        _put(body, target, value)
    if "kind" not in body:
        person = body.get("first_name") or body.get("last_name")
        body["kind"] = "company" if body.get("company_name") and not person else "individual"
    return body, tags


def row_tags(header: Header, cells: list[str]) -> list[str]:
    """A row's tag names alone, as `row_body` reads them (an import's first pass)."""
    tags: list[str] = []
    for target, raw in zip(header.targets, cells, strict=False):
        if target == "tags" and (cell := unneutralised(raw).strip()):
            tags = _tag_names(cell)
    return tags


def _tag_names(cell: str) -> list[str]:
    return list(_distinct_tag_names(cell))


@functools.lru_cache(maxsize=1024)
def _distinct_tag_names(cell: str) -> tuple[str, ...]:
    """A tags cell's names (the same few cells come back row after row: each is split once)."""
    return tuple(
        dict.fromkeys(name.strip() for name in LIST_SEPARATORS.split(cell) if name.strip())
    )


_GENDERS = {
    "f": "female",
    "femme": "female",
    "h": "male",
    "m": "male",
    "homme": "male",
    "autre": "other",
    "nonprecise": "unspecified",
}


def _boolean(cell: str) -> Any:
    word = cell.casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return cell


def _put(body: dict[str, Any], target: str, value: Any) -> None:
    parent, _, name = target.rpartition(".")
    if parent:
        body.setdefault(parent, {})[name] = value
    else:
        body[name] = value
