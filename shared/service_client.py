"""The one synchronous call allowed between services: HTTP with a timeout, retries, a token."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared.api import Refusal
from shared.auth.issuing import TokenIssuer, service_token_scopes
from shared.auth.tokens import LIFETIME_CAPS, SERVICE
from shared.logging import current_correlation_id
from shared.settings import Settings

log = logging.getLogger(__name__)


class ServiceUnavailable(Refusal, RuntimeError):
    """Another service did not answer usefully; the caller answers 503 and changes nothing."""

    status = 503

    def message(self) -> str:
        return f"{self}; nothing was changed, try again later"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


TOKEN_RENEWAL_MARGIN = 60.0
"""Seconds before its expiry a service token is replaced by a new one."""


class ServiceClient:
    """Calls another service of the suite as `service:<this service>`.

    Its tokens are for `target` alone (`aud`), carry `scopes` (no more than
    `shared.settings.SERVICE_CALLS` gives this call: ValueError otherwise), live 5 minutes and are
    signed with this process's own key (`CRM_JWT_PRIVATE_KEY`; the shared secret in development).
    """

    def __init__(self, settings: Settings, target: str, scopes: list[str]) -> None:
        allowed = service_token_scopes(settings.service, target)
        if not set(scopes) <= allowed:
            extra = " ".join(sorted(set(scopes) - allowed))
            raise ValueError(f"{settings.service} may not call {target} with {extra}")
        self.settings = settings
        self.target = target
        self.scopes = sorted(scopes)
        self.issuer = TokenIssuer(settings)
        self._token_lock = threading.Lock()
        self._current: tuple[str, float] | None = None  # token, renew after (monotonic)
        self.base_url = settings.service_url(target)
        self.session = requests.Session()
        retry = Retry(
            total=2,
            connect=2,
            read=1,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=None,  # only idempotent endpoints are called through this client
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def _token(self) -> str:
        with self._token_lock:
            if self._current is None or time.monotonic() >= self._current[1]:
                lifetime = LIFETIME_CAPS[SERVICE]
                token = self.issuer.issue(
                    f"service:{self.settings.service}",
                    self.scopes,
                    audience=[self.target],
                    kind=SERVICE,
                    ttl=lifetime,
                )
                renew_at = time.monotonic() + lifetime.total_seconds() - TOKEN_RENEWAL_MARGIN
                self._current = (token, renew_at)
            return self._current[0]

    def post(self, path: str, json: Any) -> Any:
        """POST JSON and return the decoded answer; ServiceUnavailable on any failure."""
        response = self._send("POST", path, json=json)
        if response.status_code >= 400:
            raise ServiceRejected(response.status_code, response.json())
        return response.json()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET and return the decoded answer; None on 404; ServiceUnavailable on any failure;
        ServiceRejected on another 4xx."""
        response = self._send("GET", path, params=params)
        try:
            body = response.json()
        except ValueError as exc:
            raise ServiceUnavailable(f"the {self.target} service answered no JSON") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ServiceRejected(response.status_code, body)
        return body

    def read(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """`get` for a read-your-writes look-up: None on 404, any other refusal (4xx) is
        ServiceUnavailable too, since the caller can only answer that it cannot say."""
        try:
            return self.get(path, params)
        except ServiceRejected as exc:
            raise ServiceUnavailable(f"the {self.target} service answered {exc.status}") from exc

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One call with this client's token and the correlation id; ServiceUnavailable when
        the target does not answer, fails (5xx) or refuses the token (401, 403)."""
        headers = {"Authorization": f"Bearer {self._token()}"}
        correlation = current_correlation_id()
        if correlation:
            headers["X-Correlation-ID"] = correlation
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(
                method, url, headers=headers, timeout=self.settings.service_timeout, **kwargs
            )
        except requests.RequestException as exc:
            log.warning("service call failed", extra={"url": url, "error": repr(exc)})
            raise ServiceUnavailable(f"the {self.target} service does not answer") from exc
        if response.status_code >= 500 or response.status_code in (401, 403):
            log.warning("service call refused", extra={"url": url, "status": response.status_code})
            raise ServiceUnavailable(f"the {self.target} service answered {response.status_code}")
        return response


class ServiceRejected(RuntimeError):
    """Another service refused the input (4xx); `body` is its JSON error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"refused with {status}")
        self.status = status
        self.body = body
