"""The deployment files: docker-compose.yml, the nginx gateway, the RabbitMQ definitions."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "deploy" / "gateway"
SERVICES = ["customers", "tags", "registration", "notifications", "automation"]
HEALTHY = {"condition": "service_healthy"}
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed docker-compose.yml (anchors and merge keys resolved)."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    """The parsed RabbitMQ definitions."""
    return json.loads((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("role", ["web", "worker"])
def test_each_service_has_web_and_worker_from_the_one_dockerfile(
    compose: dict[str, Any], service: str, role: str
) -> None:
    entry = compose["services"][f"{service}-{role}"]
    assert entry["command"] == [role, service]
    assert entry["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
    assert (ROOT / entry["build"]["dockerfile"]).is_file()


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("role", ["web", "worker"])
def test_app_containers_get_the_crm_environment(
    compose: dict[str, Any], service: str, role: str
) -> None:
    env = compose["services"][f"{service}-{role}"]["environment"]
    assert env["CRM_ENV"]
    assert env["CRM_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/crm_{service}" in env["CRM_DATABASE_URL"]
    assert (
        env["CRM_BROKER_URL"].startswith("amqp://") and "@rabbitmq:5672/" in env["CRM_BROKER_URL"]
    )
    assert env["CRM_SMTP_HOST"] == "mailpit"
    assert str(env["CRM_SMTP_PORT"]) == "1025"
    assert env["CRM_TAGS_URL"] == "http://tags-web:8000"
    assert env["CRM_JWT_SECRET"] == "${CRM_JWT_SECRET:?set CRM_JWT_SECRET}"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("role", ["web", "worker"])
def test_app_containers_wait_for_healthy_servers_and_migrations(
    compose: dict[str, Any], service: str, role: str
) -> None:
    depends = compose["services"][f"{service}-{role}"]["depends_on"]
    assert depends["postgres"] == HEALTHY
    assert depends["rabbitmq"] == HEALTHY
    assert depends["migrate"] == {"condition": "service_completed_successfully"}


def test_migrate_runs_once_for_all_services_after_postgres(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["migrate", "all"]
    assert migrate["depends_on"]["postgres"] == HEALTHY
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("service", SERVICES)
def test_each_web_healthcheck_hits_its_own_healthz(compose: dict[str, Any], service: str) -> None:
    test = compose["services"][f"{service}-web"]["healthcheck"]["test"]
    command = " ".join(test)
    assert f"http://127.0.0.1:8000/{service}/healthz" in command
    assert "urllib" in command and "curl" not in command


def test_servers_have_healthchecks(compose: dict[str, Any]) -> None:
    rabbit = compose["services"]["rabbitmq"]["healthcheck"]["test"]
    assert "rabbitmq-diagnostics -q ping" in " ".join(rabbit)
    assert "pg_isready" in " ".join(compose["services"]["postgres"]["healthcheck"]["test"])


def test_postgres_creates_every_service_database_and_roles(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["postgres"]["volumes"]
    assert any(
        v.startswith("./deploy/postgres/init.sh:/docker-entrypoint-initdb.d/") for v in volumes
    )
    init = (ROOT / "deploy" / "postgres" / "init.sh").read_text()
    assert "services=(customers tags registration notifications automation)" in init
    assert 'CREATE DATABASE :"db" OWNER crm_owner;' in init
    assert 'REVOKE ALL ON DATABASE :"db" FROM PUBLIC;' in init
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES" in init
    env = compose["services"]["postgres"]["environment"]
    assert env["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
    for name in ["CRM_DB_OWNER_PASSWORD", *(f"CRM_{s.upper()}_DB_PASSWORD" for s in SERVICES)]:
        assert env[name] == f"${{{name}:?set {name}}}"


def test_rabbitmq_has_an_administrator_from_the_env_and_definitions_loaded_by_a_step(
    compose: dict[str, Any],
) -> None:
    rabbit = compose["services"]["rabbitmq"]
    assert any(v.startswith("./deploy/rabbitmq/rabbitmq.conf:") for v in rabbit["volumes"])
    assert rabbit["environment"]["RABBITMQ_DEFAULT_PASS"].startswith("${RABBITMQ_ADMIN_PASSWORD:?")
    conf = (ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text()
    assert not re.search(r"^\s*(definitions|loopback_users)", conf, flags=re.M)
    init = compose["services"]["broker-init"]
    assert init["entrypoint"] == ["python", "/etc/crm/rabbitmq/init_broker.py"]
    assert "./deploy/rabbitmq:/etc/crm/rabbitmq:ro" in init["volumes"]
    assert init["depends_on"]["rabbitmq"] == HEALTHY and init["restart"] == "no"
    for service in SERVICES:
        name = f"CRM_{service.upper()}_BROKER_PASSWORD"
        assert init["environment"][name] == f"${{{name}:?set {name}}}"
    migrate = compose["services"]["migrate"]
    assert migrate["depends_on"]["broker-init"] == {"condition": "service_completed_successfully"}


def test_gateway_mounts_routes_beside_its_config_and_waits_for_webs(
    compose: dict[str, Any],
) -> None:
    gateway = compose["services"]["gateway"]
    assert "./deploy/gateway/routes.conf:/etc/nginx/routes.conf:ro" in gateway["volumes"]
    assert "./deploy/gateway/nginx.compose.conf:/etc/nginx/nginx.conf:ro" in gateway["volumes"]
    assert "./deploy/gateway/edge.conf:/etc/nginx/edge.conf:ro" in gateway["volumes"]
    assert "8000:8000" in gateway["ports"]
    assert gateway["depends_on"] == {f"{s}-web": HEALTHY for s in SERVICES}


def test_no_default_jwt_secret_anywhere_in_compose() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    settings = re.findall(r"^\s*CRM_JWT_SECRET:.*$", text, flags=re.M)
    assert settings
    for line in settings:
        assert line.strip() == "CRM_JWT_SECRET: ${CRM_JWT_SECRET:?set CRM_JWT_SECRET}"


def test_routes_have_a_location_for_each_service_prefix_without_stripping_it() -> None:
    routes = (GATEWAY / "routes.conf").read_text()
    for service in SERVICES:
        assert f"location = /{service} {{ proxy_pass http://{service}; }}" in routes
        assert f"location /{service}/ {{ proxy_pass http://{service}; }}" in routes
    assert "return 404" in routes
    assert re.search(r"client_max_body_size\s+\d+m;", routes)


def test_both_nginx_configs_include_the_same_routes_and_define_every_upstream() -> None:
    for name, address in [
        ("nginx.compose.conf", "{service}-web:8000"),
        ("nginx.local.conf.template", "127.0.0.1:{port}"),
    ]:
        conf = (GATEWAY / name).read_text()
        assert re.search(r"^\s*include routes\.conf;$", conf, flags=re.M), name
        for port, service in enumerate(SERVICES, start=8101):
            server = address.format(service=service, port=port)
            assert f"upstream {service} {{ server {server};" in conf, (name, service)


def test_definitions_are_the_suites_as_the_code_declares_them(
    definitions: dict[str, Any],
) -> None:
    # Queues, bindings, users, permissions and the policy come from shared/events (topology and
    # owners) and each service's SUBSCRIPTIONS: `crm broker-definitions > <this file>`.
    from shared.broker import suite_definitions

    assert definitions == suite_definitions()


def test_definitions_declare_each_consuming_service_quorum_queue_with_dead_lettering(
    definitions: dict[str, Any],
) -> None:
    from shared.broker import subscriptions

    queues = {q["name"]: q for q in definitions["queues"]}
    for service in subscriptions():
        queue = queues[f"{service}.events"]
        assert queue["durable"] is True and queue["vhost"] == "/"
        # The delivery limit is a policy, so that changing it re-creates no queue.
        assert queue["arguments"] == {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "crm.dead",
            "x-dead-letter-routing-key": f"{service}.events.dead",
        }
        assert queues[f"{service}.events.dead"]["durable"] is True
    [policy] = definitions["policies"]
    assert policy["definition"] == {"delivery-limit": 5}
    assert policy["apply-to"] == "queues"
    assert all(re.match(policy["pattern"], f"{s}.events") for s in SERVICES)
    assert not re.match(policy["pattern"], "customers.events.dead")


def test_definitions_bind_every_dead_queue_to_the_dead_letter_exchange(
    definitions: dict[str, Any],
) -> None:
    exchanges = {e["name"]: (e["type"], e["durable"]) for e in definitions["exchanges"]}
    assert exchanges == {"crm.events": ("topic", True), "crm.dead": ("direct", True)}
    bindings = {
        (b["source"], b["destination"], b["destination_type"], b["routing_key"])
        for b in definitions["bindings"]
    }
    from shared.broker import subscriptions

    for service in subscriptions():
        dead = f"{service}.events.dead"
        assert ("crm.dead", dead, "queue", dead) in bindings


PREFIXES = {
    "customers": r"^customer\.",
    "tags": r"^tag\.",
    "registration": r"^(account|device|registration)\.",
    "notifications": r"^notification\.",
    # The HTTP door publishes the external events it accepted.
    "automation": r"^(automation|billing|marketing|scheduling|support)\.",
}


def test_definitions_have_one_user_per_service_writing_only_its_own_events(
    definitions: dict[str, Any],
) -> None:
    assert {"name": "/"} in definitions["vhosts"]
    users = {u["name"]: u for u in definitions["users"]}
    assert set(users) == {f"crm-{s}" for s in SERVICES}  # no guest, no administrator
    assert all(u["tags"] == [] and not u["password_hash"] for u in users.values())
    permissions = {p["user"]: p for p in definitions["permissions"]}
    topics = {(t["user"], t["exchange"]): t for t in definitions["topic_permissions"]}
    for service, prefix in PREFIXES.items():
        own = permissions[f"crm-{service}"]
        assert own["vhost"] == "/"
        for kind in ("configure", "write", "read"):
            pattern = re.compile(own[kind])
            assert pattern.match(f"{service}.events") and pattern.match("crm.events")
            assert not any(
                pattern.match(f"{other}.events") for other in SERVICES if other != service
            )
        topic = topics[(f"crm-{service}", "crm.events")]
        assert topic["write"] == prefix and topic["vhost"] == "/"
        assert re.match(prefix, f"{prefix.strip('^').split('|')[0].strip('(')}.x".replace("\\", ""))


def test_broker_passwords_come_from_the_environment() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "init_broker", ROOT / "deploy" / "rabbitmq" / "init_broker.py"
    )
    assert spec and spec.loader
    init_broker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(init_broker)
    definitions = json.loads((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())
    with pytest.raises(SystemExit, match="CRM_TAGS_BROKER_PASSWORD"):
        init_broker.render(definitions, {"CRM_CUSTOMERS_BROKER_PASSWORD": "x"})
    env = {f"CRM_{s.upper()}_BROKER_PASSWORD": f"pw-{s}" for s in SERVICES}
    rendered = init_broker.render(definitions, env)
    for user in rendered["users"]:
        raw = base64.b64decode(user["password_hash"])
        service = user["name"].removeprefix("crm-")
        assert raw[4:] == hashlib.sha256(raw[:4] + f"pw-{service}".encode()).digest()


def test_no_default_credential_and_only_the_gateway_published(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "guest" not in text and ":-postgres}" not in text
    for line in re.findall(r"\$\{([A-Z_]*PASSWORD[A-Z_]*)(:?[-?][^}]*)?\}", text):
        assert line[1].startswith(":?"), line
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port == "8000:8000" and name == "gateway" or port.startswith("127.0.0.1:"), (
                name,
                port,
            )
    for service in SERVICES:
        for role in ("web", "worker"):
            env = compose["services"][f"{service}-{role}"]["environment"]
            up = service.upper()
            assert env["CRM_DATABASE_URL"].startswith(
                f"postgresql+psycopg://crm_{service}:${{CRM_{up}_DB_PASSWORD:?"
            )
            assert env["CRM_BROKER_URL"].startswith(
                f"amqp://crm-{service}:${{CRM_{up}_BROKER_PASSWORD:?"
            )
    migrate = compose["services"]["migrate"]["environment"]
    assert migrate["CRM_DATABASE_URL"].startswith("postgresql+psycopg://crm_owner:")


@pytest.mark.parametrize("name", [f"{s}-{r}" for s in SERVICES for r in ("web", "worker")])
def test_app_containers_are_locked_down(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert "/tmp" in service["tmpfs"]


def test_procfile_runs_web_and_worker_of_each_service_plus_mail_and_gateway() -> None:
    lines = (ROOT / "Procfile").read_text().splitlines()
    processes = dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))
    for port, service in enumerate(SERVICES, start=8101):
        assert f"env PORT={port} " in processes[f"{service}-web"]
        assert processes[f"{service}-web"].endswith(f"crm web {service}")
        assert processes[f"{service}-worker"].endswith(f"crm worker {service}")
    assert processes["mail"].startswith("crm mail-sink")
    assert "var/nginx/nginx.conf" in processes["gateway"]


def render_local_gateway(target: Path, port: int) -> Path:
    """Render nginx.local.conf.template as deploy/stack.sh does, into target."""
    user = "# not root"
    if os.geteuid() == 0:
        user = "user root root;"
    text = (GATEWAY / "nginx.local.conf.template").read_text()
    values = {"NGINX_DIR": str(target), "PORT": str(port), "NGINX_USER_DIRECTIVE": user}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, "a placeholder deploy/stack.sh does not know"
    (target / "tmp").mkdir(parents=True, exist_ok=True)
    (target / "nginx.conf").write_text(text)
    for name in ("edge.conf", "routes.conf"):
        shutil.copy(GATEWAY / name, target / name)
    return target / "nginx.conf"


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_nginx_accepts_the_rendered_local_gateway_config(tmp_path: Path) -> None:
    assert NGINX is not None
    conf = render_local_gateway(tmp_path / "nginx", port=18000)
    result = subprocess.run(
        [NGINX, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    """The documents of the Kubernetes manifest."""
    text = (ROOT / "deploy" / "k8s" / "tags.yaml").read_text()
    return [document for document in yaml.safe_load_all(text) if document]


def test_k8s_keeps_credentials_out_of_config_maps(k8s: list[dict[str, Any]]) -> None:
    for document in k8s:
        if document["kind"] == "ConfigMap":
            for name, value in document["data"].items():
                assert not re.search(r"PASSWORD|SECRET|_URL$|KEY", name) or name == "CRM_TAGS_URL"
                assert "@" not in value and "guest" not in value, name


def test_k8s_migrates_in_a_job_as_the_owner_before_the_processes(
    k8s: list[dict[str, Any]],
) -> None:
    [job] = [d for d in k8s if d["kind"] == "Job"]
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate", "tags"]
    assert {"secretRef": {"name": "crm-tags-migrate-secrets"}} in container["envFrom"]


def test_k8s_pods_and_containers_are_locked_down(k8s: list[dict[str, Any]]) -> None:
    workloads = [d for d in k8s if d["kind"] in ("Deployment", "Job")]
    assert len(workloads) == 3
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]]
            for ref in container["envFrom"]:
                assert "configMapRef" in ref or ref["secretRef"]["name"].endswith("secrets")
