"""The refusals of the profiles use cases; the API turns each into its HTTP answer."""

from __future__ import annotations

import uuid

from shared.api import Refusal


class ProfileError(Refusal):
    """A use case refused; the message says why, for the person who asked."""


class CustomerNotFound(ProfileError):
    """No customer has this id (404)."""

    status = 404

    def __init__(self, customer_id: uuid.UUID) -> None:
        super().__init__(f"no customer has the id {customer_id}")
        self.customer_id = customer_id


class InvalidProfile(ProfileError):
    """The profile would break a rule that needs more than one field or the database (422)."""

    def __init__(self, errors: dict[str, object]) -> None:
        super().__init__("the customer profile is not valid")
        self.errors = errors

    def field_errors(self) -> dict[str, object]:
        return {"json": self.errors}


class DuplicateEmail(ProfileError):
    """Another customer already has this email address, whatever the case (409)."""

    status, field = 409, "email"

    def __init__(self, email: str, existing_id: uuid.UUID) -> None:
        super().__init__(f"the customer {existing_id} already has the email address {email}")
        self.existing_id = existing_id


class AvatarTooLarge(ProfileError):
    """The uploaded image is bigger than the limit (413)."""

    status, location, field = 413, "files", "file"


class InvalidAvatar(ProfileError):
    """The upload is not an image we accept (422)."""

    location, field = "files", "file"


class AvatarBusy(ProfileError):
    """Every decoding slot stayed taken while the upload waited (503, try again)."""

    status = 503

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "2"}


class AvatarNotFound(ProfileError):
    """The customer has no avatar (404)."""

    status = 404
