"""Load deploy/rabbitmq/definitions.json into RabbitMQ, each service user's password from the env.

RabbitMQ cannot substitute environment variables in a definitions file, and a file imported at
boot stops it from creating its default (administrator) user. So the broker boots with only the
administrator that compose gives it (RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS, no guest),
and this one-shot step (compose's `broker-init`) loads the topology, one user per service
(`crm-<service>`, password from CRM_<SERVICE>_BROKER_PASSWORD) and their permissions through the
management API. Every password must be set: nothing has a default.

    python init_broker.py --api http://rabbitmq:15672    # compose (admin: RABBITMQ_DEFAULT_*)
    python init_broker.py --output rendered.json   # then: rabbitmqctl import_definitions
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DEFINITIONS = Path(__file__).with_name("definitions.json")


def password_variable(user: str) -> str:
    """`crm-tags` -> CRM_TAGS_BROKER_PASSWORD."""
    return f"CRM_{user.removeprefix('crm-').upper()}_BROKER_PASSWORD"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = salt if salt is not None else secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def render(definitions: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The definitions with every user's password hash filled in from `env`."""
    missing = [password_variable(u["name"]) for u in definitions["users"]]
    missing = [name for name in missing if not env.get(name)]
    if missing:
        raise SystemExit(f"set {', '.join(missing)} (broker passwords have no default)")
    rendered = json.loads(json.dumps(definitions))
    for user in rendered["users"]:
        user["password_hash"] = password_hash(env[password_variable(user["name"])])
        user["hashing_algorithm"] = "rabbit_password_hashing_sha256"
    return rendered


def post(api: str, user: str, password: str, body: dict[str, Any], timeout: float) -> None:
    """POST the definitions to the management API, retrying while it starts."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"{api.rstrip('/')}/api/definitions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
        method="POST",
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                print(f"definitions loaded ({response.status})")
                return
        except (urllib.error.URLError, ConnectionError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
                raise SystemExit(f"the broker refused the definitions: {exc.code}") from exc
            if time.monotonic() > deadline:
                raise SystemExit(f"the management API did not answer: {exc}") from exc
            time.sleep(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--api", help="management API URL, e.g. http://rabbitmq:15672")
    target.add_argument("--output", type=Path, help="write the rendered definitions here")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    rendered = render(json.loads(DEFINITIONS.read_text()), dict(os.environ))
    if args.output:
        args.output.write_text(json.dumps(rendered, indent=2))
        args.output.chmod(0o600)
        return
    admin = os.environ.get("RABBITMQ_DEFAULT_USER", "")
    secret = os.environ.get("RABBITMQ_DEFAULT_PASS", "")
    if not admin or not secret:
        raise SystemExit("set RABBITMQ_DEFAULT_USER and RABBITMQ_DEFAULT_PASS (the administrator)")
    post(args.api, admin, secret, rendered, args.timeout)


if __name__ == "__main__":
    main(sys.argv[1:])
