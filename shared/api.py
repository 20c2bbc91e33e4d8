"""The API base every service builds on: auth declared once, one error shape, pagination, ETags."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

import flask_smorest
import marshmallow as ma
from flask import current_app, g, request
from flask_smorest import abort
from werkzeug.exceptions import HTTPException

from shared.auth.tokens import CUSTOMER, SCOPED_KINDS, AuthError, Principal
from shared.auth.verification import TokenVerifier
from shared.text import SINGLE_LINE_MESSAGE, control_character_errors, has_control_characters

F = TypeVar("F", bound=Callable[..., Any])

CORRELATION_HEADER = "X-Correlation-ID"
ERROR_ID_HEADER = "X-Error-ID"
INVALID_TOKEN_MESSAGE = "invalid or expired token"

log = logging.getLogger(__name__)


class Schema(ma.Schema):
    """Request and response schemas: unknown fields are an error, not silently dropped.

    Text with control characters is refused in every field before anything else is loaded
    (`shared.text`): only fields declared `multiline` accept tab and line breaks.
    """

    checks_control_characters = True

    class Meta:
        unknown = ma.RAISE
        ordered = True

    def load(self, data: Any, *, many: bool | None = None, **kwargs: Any) -> Any:
        """marshmallow's load, control characters refused first (422 naming the field)."""
        if errors := control_character_errors(self, data, self.many if many is None else many):
            raise ma.ValidationError(errors)
        return super().load(data, many=many, **kwargs)

    def validate(self, data: Any, *, many: bool | None = None, **kwargs: Any) -> dict[str, Any]:
        """marshmallow's validate, with the control characters `load` refuses."""
        if errors := control_character_errors(self, data, self.many if many is None else many):
            return errors
        return super().validate(data, many=many, **kwargs)


class Api(flask_smorest.Api):
    """flask-smorest's Api with the bearer-token security scheme in every document."""

    def init_app(self, app: Any, *args: Any, **kwargs: Any) -> None:
        super().init_app(app, *args, **kwargs)
        self.spec.components.security_scheme(
            "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        )


class Blueprint(flask_smorest.Blueprint):
    """A Blueprint whose views declare the scopes they need, in code and in the OpenAPI document."""

    def requires(self, *scopes: str) -> Callable[[F], F]:
        """A staff endpoint: a valid staff or service token granting every one of `scopes`.

        401 without a valid token for this service; 403 for a valid one that lacks a scope, or
        that is a customer's (a customer token never passes a staff check, whatever it carries).
        """

        def check(principal: Principal, _kwargs: dict[str, Any]) -> None:
            if principal.kind not in SCOPED_KINDS:
                abort(403, message="this action is for staff")
            missing = sorted(set(scopes) - principal.scopes)
            if missing:
                abort(403, message=f"this action needs the scope {' '.join(missing)}")

        return self._guarded(check, list(scopes))

    def requires_customer(self, own: str | None = None) -> Callable[[F], F]:
        """A customer endpoint: a valid customer token, and with `own`, for that customer only.

        `own` names the view argument holding a customer id (e.g. `customer_id` of
        `/registration/accounts/<customer_id>/...`): another customer's is 403. Staff and service
        tokens are 403 here; endpoints both may call check `current_principal()` themselves.
        """

        def check(principal: Principal, kwargs: dict[str, Any]) -> None:
            if principal.kind != CUSTOMER:
                abort(403, message="this action is for customers")
            if own is not None and str(kwargs.get(own)) != principal.customer_id:
                abort(403, message="this token is for another customer")

        return self._guarded(check, [])

    def _guarded(
        self, check: Callable[[Principal, dict[str, Any]], None], scopes: list[str]
    ) -> Callable[[F], F]:
        def decorator(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                check(authenticate(), kwargs)
                return view(*args, **kwargs)

            documented = self.doc(security=[{"bearerAuth": scopes}])(wrapper)
            documented = self.alt_response(401, response="UNAUTHORIZED")(documented)
            documented = self.alt_response(403, response="FORBIDDEN")(documented)
            return cast(F, documented)

        return decorator


def authenticate() -> Principal:
    """The caller of this request, from its bearer token; 401 when there is none or it is bad."""
    principal: Principal | None = g.get("principal")
    if principal is not None:
        return principal
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(
            401,
            message="a bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="crm"'},
        )
    verifier: TokenVerifier = current_app.extensions["crm.token_verifier"]
    try:
        verified = verifier.verify(token.strip())
    except AuthError as exc:
        # Why it was refused is for the log; the caller learns only that it was.
        log.info("token refused", extra={"reason": str(exc)})
        abort(
            401,
            message=INVALID_TOKEN_MESSAGE,
            headers={"WWW-Authenticate": 'Bearer realm="crm", error="invalid_token"'},
        )
        raise  # abort raised already; this only tells the type checker
    g.principal = verified
    return verified


def refuse_control_characters_in_path() -> None:
    """422 naming the path parameter whose text holds a control character (a `<key>` in a URL)."""
    refused = {
        name: [SINGLE_LINE_MESSAGE]
        for name, value in (request.view_args or {}).items()
        if isinstance(value, str) and has_control_characters(value)
    }
    if refused:
        abort(422, message="invalid path parameter", errors={"path": refused})


def current_principal() -> Principal:
    """The authenticated caller of the current request."""
    return authenticate()


# --- refusals ------------------------------------------------------------------------------------
class Refusal(Exception):
    """A use case's refusal: answered with `status`, its message, and the field it names.

    Use cases raise subclasses in their own words (`CustomerNotFound`, `DuplicateEmail`); every
    service answers them here, in the one error shape, so views need no try/except of their own.
    """

    status: int = 422
    location: str = "json"
    field: str | None = None

    def message(self) -> str:
        """What the person who asked reads."""
        return str(self)

    def field_errors(self) -> dict[str, Any] | None:
        """Per-field errors, as marshmallow's 422s carry them."""
        if self.field is None:
            return None
        return {self.location: {self.field: [str(self)]}}

    def headers(self) -> dict[str, str]:
        """Extra response headers (e.g. Retry-After)."""
        return {}


def answer_refusal(refusal: Refusal) -> Any:
    """The JSON error answer of a refusal (registered on every service's app)."""
    details: dict[str, Any] = {"message": refusal.message()}
    if (errors := refusal.field_errors()) is not None:
        details["errors"] = errors
    if headers := refusal.headers():
        details["headers"] = headers
    try:
        abort(refusal.status, **details)
    except HTTPException as http_error:
        return current_app.handle_http_exception(http_error)


def answer_unexpected(error: Exception) -> Any:
    """A 500 that says nothing of the error but an id, under which the log has the traceback."""
    error_id = uuid.uuid4().hex
    log.error("unexpected error", exc_info=error, extra={"error_id": error_id})
    try:
        abort(
            500,
            message=f"an unexpected error occurred; quote error id {error_id} to support",
            headers={ERROR_ID_HEADER: error_id},
        )
    except HTTPException as http_error:
        return current_app.handle_http_exception(http_error)


# --- optimistic concurrency ---------------------------------------------------------------------
def etag_of(resource_id: object, version: int) -> str:
    """A strong ETag for a resource at a version."""
    return f'"{resource_id}-{version}"'


def check_if_match(current: str) -> None:
    """412 when the request's If-Match names another version; none sent is allowed."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" in candidates or current in candidates:
        return
    abort(
        412,
        message="the resource has changed since you read it; fetch it again and retry",
        headers={"ETag": current},
    )


# --- cursor pagination --------------------------------------------------------------------------
class PageArgsSchema(Schema):
    """`limit` (1-500, default 50) and the opaque `cursor` of the previous page."""

    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor from the sort key of the last row of a page."""
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The sort key a cursor carries; 422 on the `cursor` field when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        abort(422, message="invalid cursor", errors={"query": {"cursor": ["invalid cursor"]}})
    return cast(list[Any], values)


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The `{items, next_cursor}` envelope of a list of `item_schema`."""
    return cast(
        type[ma.Schema],
        type(
            name,
            (Schema,),
            {
                "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
                "next_cursor": ma.fields.String(allow_none=True, required=True),
            },
        ),
    )
