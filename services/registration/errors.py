"""The refusals of the registration use cases; the API turns each into its HTTP answer.

Public endpoints answer in generic words: a refusal never tells whether an email has an account,
whether a password was right, or why a link token is not accepted.
"""

from __future__ import annotations

import math
import uuid

from shared.api import Refusal


class RegistrationError(Refusal):
    """A use case refused; the message says why, for the person who asked."""


class LoginRefused(RegistrationError):
    """Unknown email, wrong password, disabled, unvalidated or unapproved: one answer."""

    status = 401

    def __init__(self) -> None:
        super().__init__("the email or password is wrong, or this account may not log in")


class InvalidLinkToken(RegistrationError):
    """A used, expired, unknown or foreign link token: one answer."""

    status, field = 400, "token"

    def __init__(self) -> None:
        super().__init__("this link is invalid or has expired")


class InvalidRefreshToken(RegistrationError):
    """A refresh token that is unknown, expired, revoked or already used."""

    status = 401

    def __init__(self) -> None:
        super().__init__("invalid or expired refresh token")


class TooManyAttempts(RegistrationError):
    """Throttled: 429 with Retry-After."""

    status = 429

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many attempts; try again later")
        self.retry_after = max(1, math.ceil(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class HashingBusy(RegistrationError):
    """Every password-hashing slot stayed busy: the caller retries shortly."""

    status = 503

    def __init__(self) -> None:
        super().__init__("the service is busy; try again shortly")

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class WeakPassword(RegistrationError):
    """A password outside 8-128 characters, or one of the most common ones."""

    status = 422

    def __init__(self, reason: str, field: str = "password") -> None:
        super().__init__(reason)
        self.field = field


class AccountNotFound(RegistrationError):
    """No account has this id."""

    status = 404

    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(f"no account has the id {account_id}")
        self.account_id = account_id


class AccountWithoutEmail(RegistrationError):
    """Credentials asked for an account whose customer has no email (yet) to send them to."""

    status = 409

    def __init__(self) -> None:
        super().__init__("this customer has no email to send credentials to; give it one first")


class DeviceNotFound(RegistrationError):
    """No device with this id for this account (or not a confirmed one)."""

    status = 404

    def __init__(self, device_id: str) -> None:
        super().__init__(f"no confirmed device has the id {device_id!r}")


class NotPendingApproval(RegistrationError):
    """Approve or reject asked of an account that is not waiting for approval."""

    status = 409

    def __init__(self, status: str) -> None:
        super().__init__(f"this sign-up is not waiting for approval (it is {status})")


class ImpersonationRefused(RegistrationError):
    """An impersonation token asked for something only the customer may do."""

    status = 403

    def __init__(self) -> None:
        super().__init__("an impersonation token cannot do this")


class IssuerMissing(RegistrationError):
    """This process has no private key to sign customer tokens with."""

    status = 503

    def __init__(self) -> None:
        super().__init__("customer login is not configured on this server")
