"""Bearer JWTs: what a token must carry, who may sign it, and its verification.

Every token carries `iss`, `sub`, `aud` (the services it is for), `iat`, `exp` and `kind`:

- `staff`: a person of the staff, with permissions in `scope`; at most 8 hours.
- `customer`: a customer (`customer_id`), own data only; at most 15 minutes. Its `scope` grants
  nothing: a customer token never passes a staff check, whatever it carries.
- `service`: a service calling another (`sub` = `service:<caller>`), with only the scopes
  `SERVICE_CALLS` gives that call and `aud` = the target; at most 5 minutes.

Who holds what in production (asymmetric keys, RS256 or EdDSA):

- The identity provider holds the staff private key; registration holds the customer one; each
  service that calls another (`SERVICE_CALLS`) holds its own (`CRM_JWT_PRIVATE_KEY`, published
  under the `kid` `service:<name>`; a key with such a `kid` signs only that service's service
  tokens). Operations may hold a staff key for `crm token`.
- Every service verifies with public keys only: one PEM (`CRM_JWT_PUBLIC_KEY`) or a set with
  `kid`s (`CRM_JWT_JWKS_URL`, fetched and cached; refreshed when a token names an unknown `kid`).

In development (`CRM_ENV=development`) one HS256 secret signs and verifies everything.

`tokens`: the kinds, scopes, lifetime caps and `Principal`; `keys`: the keys tokens are verified
with; `verification`: `TokenVerifier`; `issuing`: `TokenIssuer` and `issue_token`.
"""

from shared.auth.issuing import TokenIssuer, issue_token
from shared.auth.tokens import CUSTOMER, LIFETIME_CAPS, STAFF_SCOPES, AuthError
from shared.auth.verification import TokenVerifier

# Re-exported for the modules that still import them from `shared.auth` (services/registration/,
# bench/bench_imports.py, the registration, notifications and backbone tests); new code imports
# from the module that defines them.
__all__ = [
    "CUSTOMER",
    "LIFETIME_CAPS",
    "STAFF_SCOPES",
    "AuthError",
    "TokenIssuer",
    "TokenVerifier",
    "issue_token",
]
