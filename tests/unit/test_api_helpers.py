"""Cursors, ETags, the path dispatcher and JSON log lines."""

import json
import logging

import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException

from shared.api import check_if_match, decode_cursor, encode_cursor, etag_of
from shared.logging import JsonFormatter, correlated
from shared.suite import PathDispatcher


def test_a_cursor_round_trips_its_sort_key():
    values = ["2026-11-23T10:00:00+00:00", "5b1f6a1e-3c1e-4f7e-9d55-6d1c7b4c2a10"]
    assert decode_cursor(encode_cursor(values), 2) == values


@pytest.mark.parametrize("cursor", ["!!!", "e30", encode_cursor([1, 2, 3])])
def test_a_foreign_cursor_is_422(cursor):
    with Flask(__name__).test_request_context(), pytest.raises(HTTPException) as raised:
        decode_cursor(cursor, 2)
    assert raised.value.code == 422


@pytest.mark.parametrize(
    ("header", "ok"),
    [(None, True), ('"a-1"', True), ('W/"a-1"', True), ("*", True), ('"a-0"', False)],
)
def test_if_match_accepts_none_or_the_current_etag(header, ok):
    headers = {"If-Match": header} if header else {}
    with Flask(__name__).test_request_context(headers=headers):
        if ok:
            check_if_match(etag_of("a", 1))
        else:
            with pytest.raises(HTTPException) as raised:
                check_if_match(etag_of("a", 1))
            assert raised.value.code == 412


def test_the_dispatcher_routes_by_first_path_segment():
    calls = []

    def app(name):
        def _app(environ, start_response):
            calls.append((name, environ["PATH_INFO"]))
            start_response("200 OK", [])
            return [b""]

        return _app

    dispatcher = PathDispatcher({"tags": app("tags"), "customers": app("customers")})
    dispatcher({"PATH_INFO": "/tags/healthz"}, lambda *a: None)
    dispatcher({"PATH_INFO": "/customers"}, lambda *a: None)
    statuses = []
    dispatcher({"PATH_INFO": "/nope/x"}, lambda status, headers: statuses.append(status))
    assert calls == [("tags", "/tags/healthz"), ("customers", "/customers")]
    assert statuses == ["404 NOT FOUND"]


def test_log_lines_are_json_with_the_correlation_id_of_their_context():
    logger = logging.getLogger("t")
    with correlated("c-9", service="tags"):
        record = logger.makeRecord("t", logging.INFO, "f", 1, "hello %s", ("you",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you"
    assert line["correlation_id"] == "c-9" and line["service"] == "tags"


def test_extra_fields_may_use_any_name():
    with correlated("c-1", service="tags"):
        record = logging.getLogger("t").makeRecord(
            "t", logging.INFO, "f", 1, "m", (), None, extra={"service": "x", "n": 1}
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["n"] == 1 and line["service"] == "x"
