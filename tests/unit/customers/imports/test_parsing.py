"""Reading an uploaded CSV: encodings, delimiters, headers in English and French, rows."""

from __future__ import annotations

import io

import pytest

from services.customers.imports.columns import read_header, row_body
from services.customers.imports.parsing import (
    CsvFile,
    EncodingDetector,
    NotCsv,
    detect_delimiter,
    detect_encoding,
    iter_chunks,
)


def read(data: bytes) -> CsvFile:
    return CsvFile(io.BytesIO(data), detect_encoding(data))


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Prénom,Nom\nÉlodie,Dupré\n".encode(), "utf-8"),
        (b"\xef\xbb\xbf" + "Prénom,Nom\nÉlodie,Dupré\n".encode(), "utf-8-sig"),
        ("Prénom;Nom\nÉlodie;Dupré — €\n".encode("cp1252"), "cp1252"),
        (b"Pr\xe9nom;Nom\n\xc9lodie;\x81\n", "latin-1"),
    ],
)
def test_the_encoding_is_detected(data: bytes, encoding: str) -> None:
    assert detect_encoding(data) == encoding


def test_utf8_split_across_pieces_stays_utf8() -> None:
    data = ("é" * 1000).encode()
    detector = EncodingDetector()
    for piece in iter_chunks(data, 7):  # cuts through two-byte characters
        detector.feed(piece)
    assert detector.encoding() == "utf-8"


def test_a_late_latin1_byte_makes_the_whole_file_windows_1252() -> None:
    data = b"first_name\n" + b"a\n" * 100_000 + "Zoé\n".encode("cp1252")
    detector = EncodingDetector()
    for piece in iter_chunks(data, 4096):
        detector.feed(piece)
    assert detector.encoding() == "cp1252"


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("a,b,c\n", ","),
        ("a;b;c\n", ";"),
        ("a\tb\tc\n", "\t"),
        ('"a,b,c";d\n1,2,3,4,5,6\n', ";"),  # commas quoted in the header, and in later lines
        ("single\n", ","),
    ],
)
def test_the_delimiter_is_the_one_the_header_uses(header: str, delimiter: str) -> None:
    assert detect_delimiter(header) == delimiter


def test_french_headers_are_understood() -> None:
    header = read_header(
        [
            "Prénom",
            "Nom",
            "E-mail",
            "Téléphone",
            "Société",
            "Adresse",
            "Code postal",
            "Ville",
            "Pays",
            "Langue",
            "Étiquettes",
            "Colonne à moi",
        ]
    )
    assert header.targets == (
        "first_name",
        "last_name",
        "email",
        "phones",
        "company_name",
        "address.street",
        "address.postal_code",
        "address.city",
        "address.country",
        "language",
        "tags",
        None,
    )
    assert header.unknown == ["Colonne à moi"]


def test_a_header_with_no_known_column_is_not_a_customers_csv() -> None:
    with pytest.raises(NotCsv, match="no known column"):
        read_header(["foo", "bar"])


def test_a_field_named_twice_is_refused() -> None:
    with pytest.raises(NotCsv, match="same field"):
        read_header(["Email", "Courriel"])


def test_an_empty_file_is_not_csv() -> None:
    with pytest.raises(NotCsv, match="empty"):
        read(b"")


def test_a_row_becomes_the_body_of_post_customers() -> None:
    header = read_header(
        [
            "first_name",
            "Email",
            "Téléphone",
            "Ville",
            "Pays",
            "Tags",
            "Newsletter",
            "Source du consentement",
            "Date du consentement",
        ]
    )
    body, tags = row_body(
        header,
        [
            "Ana",
            "ana@example.com",
            "+33612345678|0612345679",
            "Lyon",
            "FR",
            "VIP| Lyon ,vip",
            "oui",
            "signed form",
            "2026-01-02T10:00:00Z",
        ],
    )
    assert body == {
        "kind": "individual",
        "first_name": "Ana",
        "email": "ana@example.com",
        "phones": [{"number": "+33612345678"}, {"number": "0612345679"}],
        "address": {"city": "Lyon", "country": "FR"},
        "newsletter_subscribed": True,
        "consent": {"source": "signed form", "obtained_at": "2026-01-02T10:00:00Z"},
    }
    assert tags == ["VIP", "Lyon", "vip"]  # the same name in two cases: the tags service decides


def test_blank_cells_are_left_out_and_a_company_is_recognised() -> None:
    header = read_header(["Nom", "Société", "Email"])
    assert row_body(header, ["", "ACME", ""]) == ({"company_name": "ACME", "kind": "company"}, [])


def test_a_word_that_is_no_boolean_stays_for_the_schema_to_refuse() -> None:
    header = read_header(["Nom", "Fournisseur"])
    assert row_body(header, ["Li", "peut-être"])[0]["is_supplier"] == "peut-être"


def test_an_exported_formula_cell_comes_back_as_typed() -> None:
    header = read_header(["Nom", "notes"])
    assert row_body(header, ["Li", "'=1+2"])[0]["notes"] == "=1+2"
    assert row_body(header, ["Li", "'plain"])[0]["notes"] == "'plain"


def test_rows_quoted_newlines_bad_rows_and_numbering() -> None:
    data = (
        b"\xef\xbb\xbfPr\xc3\xa9nom;Nom;notes\r\n"
        b'Ana;Lima;"two\r\nlines"\r\n'
        b"\r\n"
        b"Bo;Berg\r\n"
        b"Cy;Chu;ok\r\n"
    )
    csv_file = read(data)
    assert csv_file.delimiter == ";"
    rows = list(csv_file.rows())
    assert [row.number for row in rows] == [1, 2, 3]
    assert rows[0].body["notes"] == "two\r\nlines"
    assert rows[1].error == "this row has 2 cells where the header has 3"
    assert rows[2].body == {
        "first_name": "Cy",
        "last_name": "Chu",
        "notes": "ok",
        "kind": "individual",
    }


def test_broken_quoting_is_a_row_error_not_a_crash() -> None:
    rows = list(read(b'Nom,notes\nLi,"ab"c\nMo,fine\n').rows())
    assert rows[0].error is not None and "cannot be read as CSV" in rows[0].error
    assert rows[-1].body["last_name"] == "Mo"


def test_a_line_longer_than_the_sample_is_read_whole() -> None:
    long_note = "x" * (CsvFile.SAMPLE + 10)
    rows = list(read(f"Nom,notes\nLi,{long_note}\nMo,b\n".encode()).rows())
    assert rows[0].body["notes"] == long_note
    assert rows[1].body["last_name"] == "Mo"


def test_a_row_says_whether_its_kind_was_written_or_guessed() -> None:
    rows = list(read(b"Type,Nom,Soci\xc3\xa9t\xc3\xa9\nentreprise,,ACME\n,Li,\n").rows())
    assert [(row.body["kind"], row.kind_given) for row in rows] == [
        ("company", True),
        ("individual", False),
    ]
    (no_column,) = read(b"Nom\nLi\n").rows()
    assert (no_column.body["kind"], no_column.kind_given) == ("individual", False)
