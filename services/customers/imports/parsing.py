"""Reading an uploaded CSV: its encoding, its delimiter, its header, and each row as a request
body of `POST /customers` (the profiles schema validates it, not this module).

Pure functions and a streaming reader: nothing here holds more than one row of the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

UTF8_BOM = codecs.BOM_UTF8
DELIMITERS = (",", ";", "\t")
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


# --- encoding -----------------------------------------------------------------------------------
class EncodingDetector:
    """Fed the file's bytes in order, tells its encoding: UTF-8 (with or without a BOM) when
    every byte decodes as such, Windows-1252 otherwise, or Latin-1 for the bytes Windows-1252
    leaves undefined. Holds no more than the decoder's few pending bytes."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._utf8 = True
        self._bom: bool | None = None
        self._head = b""
        self._cp1252 = True
        self.binary = False

    def feed(self, data: bytes) -> None:
        if self._bom is None:
            self._head += data[:3]
            if len(self._head) >= 3 or not data:
                self._bom = self._head.startswith(UTF8_BOM)
        if b"\x00" in data:
            self.binary = True
        if self._utf8:
            try:
                self._decoder.decode(data)
            except UnicodeDecodeError:
                self._utf8 = False
        if self._cp1252 and not self._utf8:
            self._cp1252 = not any(
                byte in data for byte in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
            )

    def encoding(self) -> str:
        """The encoding to read the whole file with."""
        if self._bom is None:
            self._bom = self._head.startswith(UTF8_BOM)
        if self._utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._utf8 = False
        if self._utf8:
            return "utf-8-sig" if self._bom else "utf-8"
        return "cp1252" if self._cp1252 else "latin-1"


def detect_encoding(data: bytes) -> str:
    """The encoding of a whole file held in memory (tests, small files)."""
    detector = EncodingDetector()
    detector.feed(data)
    return detector.encoding()


# --- delimiter ----------------------------------------------------------------------------------
def detect_delimiter(sample: str) -> str:
    """Comma, semicolon or tab: the one the header line uses most, outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in sample:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in ("\n", "\r"):
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


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


# --- rows ---------------------------------------------------------------------------------------
@dataclass
class Row:
    """One record of the file: its number (1 after the header), its cells, and either its request
    body and tag names or why it could not be read."""

    number: int
    cells: list[str]
    body: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    error: str | None = None


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
            tags = list(
                dict.fromkeys(name.strip() for name in LIST_SEPARATORS.split(cell) if name.strip())
            )
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


class CsvFile:
    """A CSV file read from a binary stream, one row at a time: encoding, delimiter and header
    found first (NotCsv when there is none); `rows()` yields every record after the header."""

    SAMPLE = 64 * 1024

    def __init__(self, stream: IO[bytes], encoding: str) -> None:
        text = io.TextIOWrapper(stream, encoding=encoding, newline="", errors="strict")
        self._text = _PeekedText(text, self.SAMPLE)
        self.delimiter = detect_delimiter(self._text.head)
        self._reader = csv.reader(self._text, delimiter=self.delimiter, strict=True)
        try:
            names = next(self._reader)
        except StopIteration:
            raise NotCsv("the file is empty: a header row is expected") from None
        except csv.Error as exc:
            raise NotCsv(f"the header row cannot be read: {exc}") from None
        self.header = read_header(names)

    def rows(self) -> Iterator[Row]:
        number = 0
        while True:
            number += 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Row(number, [], error=f"this row cannot be read as CSV: {exc}")
                continue
            if not any(cell.strip() for cell in cells):
                number -= 1  # blank lines are not rows
                continue
            if len(cells) != len(self.header.names):
                yield Row(
                    number,
                    cells,
                    error=f"this row has {len(cells)} cells where the header has "
                    f"{len(self.header.names)}",
                )
                continue
            body, tags = row_body(self.header, cells)
            yield Row(number, cells, body, tags)


class _PeekedText:
    """A text stream whose first `size` characters were read ahead (to find the delimiter)."""

    def __init__(self, text: IO[str], size: int) -> None:
        self._text = text
        self.head = text.read(size)
        self._pending: io.StringIO | None = io.StringIO(self.head)

    def __iter__(self) -> Iterator[str]:
        if self._pending is not None:
            for line in self._pending:
                if line.endswith(("\n", "\r")):
                    yield line
                else:  # the sample cut a line: join it to the rest of that line
                    yield line + self._text.readline()
                    break
            self._pending = None
        yield from self._text


def iter_chunks(data: bytes, size: int) -> Iterable[bytes]:
    """`data` in pieces of `size` bytes (tests)."""
    return (data[start : start + size] for start in range(0, len(data), size))
