"""Every argument schema of every service refuses a NUL in every field it loads, by name.

Walks the schemas the services' views declare (`@blp.arguments`, body and query alike), down to
nested fields, lists and dicts: a new schema, field or service is checked without being listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import marshmallow as ma
import pytest
from flask_smorest.fields import Upload

from shared.settings import SERVICES
from shared.suite import create_app
from shared.text import MULTILINE_MESSAGE, SINGLE_LINE_MESSAGE, is_multiline
from tests.conftest import settings_for

NUL = "bad\x00text"
# The fields that accept tab and line breaks: free text only (api.md, errors).
MULTILINE_FIELDS = {
    ("tags", "POST /tags", "json", "description"),
    ("tags", "PATCH /tags/<uuid:tag_id>", "json", "description"),
    ("customers", "POST /customers", "json", "notes"),
    ("customers", "PATCH /customers/<uuid:customer_id>", "json", "notes"),
    # A timeline entry's rich-text note (HTML, sanitised).
    ("customers", "POST /customers/<uuid:customer_id>/timeline", "json", "note"),
    ("customers", "PATCH /customers/<uuid:customer_id>/timeline/<uuid:entry_id>", "json", "note"),
    # An email template's bodies: text and HTML are written on several lines.
    (
        "notifications",
        "PUT /notifications/templates/<string:key>/<string:language>",
        "json",
        "body_text",
    ),
    (
        "notifications",
        "PUT /notifications/templates/<string:key>/<string:language>",
        "json",
        "body_html",
    ),
}


def argument_schemas(service: str) -> Iterator[tuple[str, str, ma.Schema]]:
    """(`METHOD rule`, location, schema) of every `@blp.arguments` of the service's views."""
    app = create_app(settings_for(service, database_urls={service: "sqlite://"}))
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted(rule.methods or ()):
            function = getattr(view_class, method.lower(), None) if view_class else view
            apidoc = getattr(function, "_apidoc", {})
            for parameter in apidoc.get("arguments", {}).get("parameters", []):
                schema = parameter["schema"]
                if isinstance(schema, type):
                    schema = schema()
                yield f"{method} {rule.rule}", parameter["in"], schema


def bad_inputs(field: ma.fields.Field) -> Iterator[tuple[str, Any, Any]]:
    """(label, a value with a NUL somewhere, the path to its error below the field)."""
    if isinstance(field, Upload):
        return
    if isinstance(field, ma.fields.Nested) and not isinstance(field, ma.fields.Pluck):
        schema = field.schema
        for name, inner in schema.load_fields.items():
            key = inner.data_key or name
            for label, value, path in bad_inputs(inner):
                body = {key: value}
                if field.many:
                    yield f"[0].{key}{label}", [body], (0, key, *path)
                else:
                    yield f".{key}{label}", body, (key, *path)
        return
    if isinstance(field, ma.fields.List):
        for label, value, path in bad_inputs(field.inner):
            yield f"[0]{label}", [value], (0, *path)
        return
    if isinstance(field, ma.fields.Mapping):
        yield "{key}", {NUL: "v"}, (NUL, "key")
        yield "{value}", {"k": NUL}, ("k", "value")
        return
    yield "", NUL, ()


def cases() -> Iterator[Any]:
    for service in SERVICES:
        for operation, location, schema in argument_schemas(service):
            for name, field in schema.load_fields.items():
                key = field.data_key or name
                for label, value, path in bad_inputs(field):
                    yield pytest.param(
                        schema,
                        {key: value},
                        (key, *path),
                        id=f"{operation} {location} {key}{label}",
                    )


def test_the_walk_finds_the_services_schemas() -> None:
    operations = {operation for service in SERVICES for operation, *_ in argument_schemas(service)}

    assert {"POST /tags", "GET /tags", "GET /customers", "POST /customers/bulk"} <= operations
    assert len(list(cases())) > 100


@pytest.mark.parametrize(("schema", "body", "path"), list(cases()))
def test_a_nul_in_any_field_is_refused_naming_it(
    schema: ma.Schema, body: dict[str, Any], path: tuple[Any, ...]
) -> None:
    with pytest.raises(ma.ValidationError) as refused:
        schema.load(body)

    errors: Any = refused.value.messages
    for step in path:
        assert isinstance(errors, dict) and step in errors, (path, refused.value.messages)
        errors = errors[step]
    assert errors in ([SINGLE_LINE_MESSAGE], [MULTILINE_MESSAGE]), refused.value.messages


def test_only_free_text_fields_accept_line_breaks() -> None:
    multiline = {
        (service, operation, location, name)
        for service in SERVICES
        for operation, location, schema in argument_schemas(service)
        for name, field in schema.load_fields.items()
        if is_multiline(field)
    }

    assert multiline == MULTILINE_FIELDS
