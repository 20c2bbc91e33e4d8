"""Demo data for a running suite, created through its public API like any client would."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import requests

FIRST_NAMES = ["Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Manon", "Arthur", "Inès"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"]
CITIES = [
    ("Paris", "75001", "Île-de-France"),
    ("Lyon", "69001", "Auvergne-Rhône-Alpes"),
    ("Lille", "59000", "Hauts-de-France"),
    ("Nantes", "44000", "Pays de la Loire"),
]
TAGS = [
    ("Newsletter", "Reads every issue", "#1e90ff"),
    ("Salon 2026", "Met at the fair", "#ff8c00"),
    ("Parrainage", "Came through a referral", "#2e8b57"),
]
STATUSES = ["lead", "prospect", "active", "vip", "inactive"]


def seed_demo_data(
    base_url: str, token: str, customers: int = 25, echo: Callable[[str], Any] = print
) -> None:
    """Create a few tags and `customers` customers with tags and statuses."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    rng = random.Random(2026)
    for name, description, color in TAGS:
        answer = session.post(
            f"{base_url}/tags",
            json={"name": name, "description": description, "color": color},
            timeout=10,
        )
        if answer.status_code not in (201, 409):
            answer.raise_for_status()
    tag_names = [name for name, _, _ in TAGS] + ["VIP", "À recontacter"]
    for n in range(customers):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, postal_code, region = rng.choice(CITIES)
        company = n % 5 == 0
        body: dict[str, Any] = {
            "kind": "company" if company else "individual",
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}.{n}@example.com".lower().replace("é", "e").replace("è", "e"),
            "language": rng.choice(["fr", "fr_BE", "en"]),
            "address": {
                "city": city,
                "postal_code": postal_code,
                "region": region,
                "country": "FR",
            },
            "phones": [
                {"number": f"+33 6 12 34 {n // 100 % 100:02d} {n % 100:02d}", "type": "mobile"}
            ],
            "status": rng.choice(STATUSES),
        }
        if company:
            body["company_name"] = f"{last} & Fils"
        created = session.post(f"{base_url}/customers", json=body, timeout=10)
        if created.status_code == 409:
            continue
        created.raise_for_status()
        customer_id = created.json()["id"]
        for name in rng.sample(tag_names, rng.randint(0, 2)):
            session.post(
                f"{base_url}/customers/{customer_id}/tags", json={"name": name}, timeout=10
            ).raise_for_status()
    echo(f"seeded {len(TAGS)} tags and {customers} customers at {base_url}")
