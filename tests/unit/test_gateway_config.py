"""The gateway's edge rules, as written in deploy/gateway/ (behaviour: tests/e2e/test_stack.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "deploy" / "gateway"
SERVICES = ["customers", "tags", "registration", "notifications", "automation"]
ROUTES = (GATEWAY / "routes.conf").read_text()
SERVER_LEVEL = ROUTES[: re.search(r"^location", ROUTES, flags=re.M).start()]  # type: ignore[union-attr]
EDGE = (GATEWAY / "edge.conf").read_text()
CONFIGS = ["nginx.compose.conf", "nginx.local.conf.template"]


def locations(text: str) -> dict[str, str]:
    """Each `location` of routes.conf (its match) and its block."""
    found = {}
    for match in re.finditer(r"^location\s+(.+?)\s*\{(.*?)\}\s*$", text, flags=re.M | re.S):
        found[match.group(1)] = match.group(2)
    return found


@pytest.mark.parametrize("name", CONFIGS)
def test_both_configs_include_the_edge_at_http_level_and_log_with_it(name: str) -> None:
    conf = (GATEWAY / name).read_text()
    http = conf[conf.index("http {") :]
    assert "include edge.conf;" in http and http.index("include edge.conf;") < http.index(
        "server {"
    )
    assert re.search(r"access_log \S+ crm;", conf)
    assert not re.search(r"^\s*log_format", conf, flags=re.M)  # one log format: edge.conf


def test_the_access_log_has_no_query_string() -> None:
    log_format = EDGE[EDGE.index("log_format crm") : EDGE.index(";", EDGE.index("log_format crm"))]
    for variable in ("$request ", '$request"', "$request_uri", "$args", "$query_string"):
        assert variable not in log_format
    assert "$uri" in log_format


def test_every_answer_gets_nosniff_and_no_referrer_and_authenticated_ones_no_store() -> None:
    server_level = SERVER_LEVEL
    assert "add_header X-Content-Type-Options nosniff always;" in server_level
    assert "add_header Referrer-Policy no-referrer always;" in server_level
    assert "add_header Cache-Control $crm_cache_control always;" in server_level
    assert "proxy_hide_header Cache-Control;" in server_level
    assert re.search(r'map \$http_authorization \$crm_cache_control \{\s*""\s+', EDGE)
    assert re.search(r'default\s+"no-store";', EDGE)
    # nginx drops the server's add_header lines in a location that has its own: repeat them.
    for match, block in locations(ROUTES).items():
        if "add_header" in block:
            for header in ("X-Content-Type-Options", "Referrer-Policy", "Cache-Control"):
                assert f"add_header {header} " in block, (match, header)


def test_metrics_and_readiness_are_not_routed_but_healthz_is() -> None:
    [ops] = [block for match, block in locations(ROUTES).items() if "metrics|readyz" in match]
    assert "return 404" in ops and "proxy_pass" not in ops
    match = next(m for m in locations(ROUTES) if "metrics|readyz" in m)
    pattern = re.compile(match.removeprefix("~").strip())
    for service in SERVICES:
        assert pattern.match(f"/{service}/metrics") and pattern.match(f"/{service}/readyz")
        assert not pattern.match(f"/{service}/healthz")


def test_docs_pages_get_a_strict_content_security_policy() -> None:
    [(match, block)] = [(m, b) for m, b in locations(ROUTES).items() if "/docs" in m]
    for service in SERVICES:
        assert service in match
    csp = re.search(r'add_header Content-Security-Policy "([^"]+)" always;', block)
    assert csp, block
    policy = dict(part.strip().split(" ", 1) for part in csp.group(1).split(";") if part.strip())
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert "unsafe" not in csp.group(1)
    assert policy["frame-ancestors"] == "'none'"


def test_bodies_are_limited_per_route() -> None:
    server_level = SERVER_LEVEL
    assert re.search(r"^client_max_body_size 1m;", server_level, flags=re.M)
    blocks = locations(ROUTES)
    [avatar] = [b for m, b in blocks.items() if "avatar" in m]
    [imports] = [b for m, b in blocks.items() if "imports" in m]
    assert "client_max_body_size 3m;" in avatar
    assert "client_max_body_size 200m;" in imports
    [attachments] = [b for m, b in blocks.items() if "attachments" in m]
    assert "client_max_body_size 11m;" in attachments
    assert sum("client_max_body_size" in block for block in blocks.values()) == 3
