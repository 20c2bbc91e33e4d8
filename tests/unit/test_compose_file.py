"""The deployment files: docker-compose.yml, the nginx gateway, the RabbitMQ definitions, k8s."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from shared.auth.issuing import TokenIssuer, issue_token, service_token_scopes
from shared.auth.tokens import SERVICE
from shared.auth.verification import TokenVerifier
from shared.cli import main as crm
from shared.settings import SERVICE_CALLS, Settings
from tests.jwt_keys import ed25519_pair, rsa_pair

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
    for target in {target for _caller, target in SERVICE_CALLS}:  # the services called
        assert env[f"CRM_{target.upper()}_URL"] == f"http://{target}-web:8000"
    # Production verifies tokens with public keys (a JWKS mounted as a secret), no shared secret.
    assert "CRM_JWT_SECRET" not in env
    assert env["CRM_JWT_JWKS_URL"] == "file:///run/secrets/jwks.json"


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


# --- tokens: public keys for every service, a private key for the callers ------------------------
DEPLOY_FILES = [ROOT / "docker-compose.yml", *sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))]
CALLERS = sorted({caller for caller, _target in SERVICE_CALLS})
ISSUER = "registration"
"""The issuer of customer tokens signs its service tokens with that one key (customer-issuer)."""
KEYED_CALLERS = [caller for caller in CALLERS if caller != ISSUER]
"""The callers that hold a service key of their own (service:<name>)."""


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda path: path.name)
def test_no_shared_jwt_secret_in_compose_nor_k8s(path: Path) -> None:
    # Production (anything but CRM_ENV=development) refuses the HS256 shared secret.
    assert "CRM_JWT_SECRET" not in path.read_text()


def test_customers_web_and_worker_share_the_attachments_volume(compose: dict[str, Any]) -> None:
    # The web stores a timeline attachment the worker removes with its customer: one volume,
    # unless an S3-compatible bucket is configured.
    mount = "customers-attachments:/app/var/attachments"
    for name in ("customers-web", "customers-worker"):
        assert mount in compose["services"][name]["volumes"], name
    assert "customers-attachments" in compose["volumes"]
    assert "/app/var/attachments" in (ROOT / "deploy" / "Dockerfile").read_text()  # owned by crm


def crm_containers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The containers that run `crm` (web, worker, migrate), by name."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("command", [None])[0] in ("web", "worker", "migrate")
    }


def secret_mounts(container: dict[str, Any]) -> dict[str, str]:
    """Path in the container -> name of the compose secret mounted there."""
    mounts = {}
    for entry in container.get("secrets", []):
        name = entry if isinstance(entry, str) else entry["source"]
        target = name if isinstance(entry, str) else entry.get("target", name)
        mounts[str(Path("/run/secrets") / target)] = name
    return mounts


def test_every_crm_container_verifies_tokens_with_public_keys_from_a_secret(
    compose: dict[str, Any],
) -> None:
    containers = crm_containers(compose)
    assert len(containers) == 2 * len(SERVICES) + 1
    for name, container in containers.items():
        env, mounts = container["environment"], secret_mounts(container)
        assert "CRM_JWT_JWKS_URL" in env or {"CRM_JWT_PUBLIC_KEY", "CRM_JWT_PUBLIC_KEY_FILE"} & set(
            env
        ), name
        if "CRM_JWT_JWKS_URL" in env:
            assert env["CRM_JWT_JWKS_URL"].removeprefix("file://") in mounts, name
        if "CRM_JWT_PUBLIC_KEY_FILE" in env:
            assert env["CRM_JWT_PUBLIC_KEY_FILE"] in mounts, name


@pytest.mark.parametrize("service", SERVICES)
def test_only_a_calling_service_holds_a_private_key_its_own(
    compose: dict[str, Any], service: str
) -> None:
    for role in ("web", "worker"):
        container = compose["services"][f"{service}-{role}"]
        env, mounts = container["environment"], secret_mounts(container)
        assert "CRM_JWT_PRIVATE_KEY" not in env  # a key is a file, never a variable's value
        if service in KEYED_CALLERS:
            assert env["CRM_JWT_PRIVATE_KEY_FILE"] == f"/run/secrets/{service}_service_key"
            assert mounts[env["CRM_JWT_PRIVATE_KEY_FILE"]] == f"{service}_service_key"
            assert env["CRM_JWT_KEY_ID"] == f"service:{service}"
        elif service == ISSUER:
            # The issuer of customer tokens signs them with a key of its own.
            assert env["CRM_JWT_PRIVATE_KEY_FILE"] == "/run/secrets/registration_issuer_key"
            assert mounts[env["CRM_JWT_PRIVATE_KEY_FILE"]] == "registration_issuer_key"
            assert env["CRM_JWT_KEY_ID"] == "customer-issuer"
        else:
            assert "CRM_JWT_PRIVATE_KEY_FILE" not in env and "CRM_JWT_KEY_ID" not in env
            assert not any(name.endswith("_service_key") for name in mounts.values())


def test_secrets_are_files_named_by_required_variables(compose: dict[str, Any]) -> None:
    secrets = compose["secrets"]
    assert {"jwks.json", *(f"{caller}_service_key" for caller in KEYED_CALLERS)} <= set(secrets)
    for name, secret in secrets.items():
        assert set(secret) == {"file"}, name
        assert re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}", secret["file"]), name
    for container in compose["services"].values():
        assert set(secret_mounts(container).values()) <= set(secrets)


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
                service_url = name in {f"CRM_{service.upper()}_URL" for service in SERVICES}
                assert not re.search(r"PASSWORD|SECRET|_URL$|KEY", name) or service_url
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


def test_k8s_verifies_tokens_with_a_jwks_mounted_read_only_from_a_secret(
    k8s: list[dict[str, Any]],
) -> None:
    for workload in (d for d in k8s if d["kind"] in ("Deployment", "Job")):
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            env = {e["name"]: e["value"] for e in container.get("env", [])}
            path = Path(env["CRM_JWT_JWKS_URL"].removeprefix("file://"))
            [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
            assert mount["readOnly"] is True
            secret = volumes[mount["name"]]["secret"]
            assert secret["secretName"] == "crm-jwks"
            assert secret["defaultMode"] & 0o007 == 0  # not world-readable
            # tags calls nobody: it holds no private key.
            assert not {"CRM_JWT_PRIVATE_KEY", "CRM_JWT_PRIVATE_KEY_FILE"} & set(env)


# --- compose starts under the production rules --------------------------------------------------
VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` on every string of `value`."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if variables.get(name):
            return variables[name]
        if operator == ":?":
            raise AssertionError(f"compose refuses to start: {argument}")
        return argument or ""

    return VARIABLE.sub(substitute, value)


KEY_FILES = (
    "CRM_JWKS_FILE",
    "CRM_REGISTRATION_ISSUER_KEY_FILE",
    *(f"CRM_{caller.upper()}_SERVICE_KEY_FILE" for caller in KEYED_CALLERS),
)


def write_keys(directory: Path) -> dict[str, str]:
    """The key files an operator makes before `docker compose up` (as the README shows): the
    staff key (Ed25519), each calling service's own (RSA, Ed25519...) and their JWKS; the values
    of KEY_FILES, and the staff private key (`staff`)."""
    pairs = {"staff": ed25519_pair(0), "registration-issuer": ed25519_pair(99)}
    pairs |= {
        caller: (rsa_pair(index) if index % 2 == 0 else ed25519_pair(index))
        for index, caller in enumerate(KEYED_CALLERS, start=1)
    }
    for name, (private, public) in pairs.items():
        (directory / f"{name}.key").write_text(private)
        (directory / f"{name}.pub").write_text(public)
    kids = [
        f"staff-1={directory / 'staff.pub'}",
        f"customer-issuer={directory / 'registration-issuer.pub'}",
    ]
    kids += [f"service:{caller}={directory / f'{caller}.pub'}" for caller in KEYED_CALLERS]
    result = CliRunner().invoke(crm, ["jwks", *kids])
    assert result.exit_code == 0, result.output
    (directory / "jwks.json").write_text(result.output)
    files = {
        f"CRM_{caller.upper()}_SERVICE_KEY_FILE": directory / f"{caller}.key"
        for caller in KEYED_CALLERS
    }
    files["CRM_REGISTRATION_ISSUER_KEY_FILE"] = directory / "registration-issuer.key"
    return {
        "staff": pairs["staff"][0],
        "CRM_JWKS_FILE": str(directory / "jwks.json"),
        **{name: str(path) for name, path in files.items()},
    }


def required_variables() -> dict[str, str]:
    """A value for each variable compose requires (`${NAME:?...}`) but the key files: hex, as
    the header's loop makes the passwords. The others (CRM_ENV...) keep compose's defaults."""
    text = (ROOT / "docker-compose.yml").read_text()
    required = {name for name, operator, _ in VARIABLE.findall(text) if operator == ":?"}
    return {name: f"{name.lower()}-0123456789abcdef" for name in required - set(KEY_FILES)}


def compose_settings(compose: dict[str, Any], variables: dict[str, str]) -> dict[str, Settings]:
    """`Settings.from_env` of every service in every container that runs `crm`, with the
    environment compose gives it and its secrets where compose mounts them; by container name
    (`migrate` checks every service's settings: `crm migrate all`)."""
    resolved = interpolate(compose, variables)
    files = {name: secret["file"] for name, secret in resolved.get("secrets", {}).items()}
    settings = {}
    for name, container in crm_containers(resolved).items():
        environ = {key: str(value) for key, value in container["environment"].items()}
        for target, secret in secret_mounts(container).items():
            environ = {key: value.replace(target, files[secret]) for key, value in environ.items()}
        assert not any("/run/secrets/" in value for value in environ.values()), (name, environ)
        command = container["command"]
        # As `crm migrate` reads them: migrating calls no service, so it signs nothing.
        calls_services = command[0] != "migrate"
        for service in SERVICES if command[1] == "all" else [command[1]]:
            settings[f"{name}:{service}"] = Settings.from_env(
                service, environ, calls_services=calls_services
            )
    return settings


def test_migrate_holds_no_service_private_key(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert not {"CRM_JWT_PRIVATE_KEY", "CRM_JWT_PRIVATE_KEY_FILE"} & set(migrate["environment"])
    assert all("service_key" not in secret for secret in migrate.get("secrets", []))


def test_compose_gives_every_service_settings_production_accepts(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    keys = write_keys(tmp_path)
    variables = required_variables() | {name: keys[name] for name in KEY_FILES}
    settings = compose_settings(compose, variables)  # ConfigurationError if production refused
    assert len(settings) == 2 * len(SERVICES) + len(SERVICES)
    assert all(s.production and s.jwt_secret is None for s in settings.values())

    # Each caller's service tokens are signed with its own key and verified by their target.
    for caller, target in SERVICE_CALLS:
        token = TokenIssuer(settings[f"{caller}-web:{caller}"]).issue(
            f"service:{caller}",
            service_token_scopes(caller, target),
            audience=[target],
            kind=SERVICE,
        )
        verifier = TokenVerifier(settings[f"{target}-web:{target}"])
        assert verifier.verify(token).subject == f"service:{caller}"
    # A staff token of the identity provider's key (kid staff-1) passes every service.
    staff = issue_token(
        replace(settings["tags-web:tags"], jwt_key_id="staff-1"),
        "staff:ann",
        ["customers:read"],
        audience=SERVICES,
        private_key=keys["staff"],
    )
    for service in SERVICES:
        assert (
            TokenVerifier(settings[f"{service}-web:{service}"]).verify(staff).has("customers:read")
        )


def test_compose_refuses_to_start_without_the_key_files(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    keys = write_keys(tmp_path)
    for missing in KEY_FILES:
        given = {name: keys[name] for name in KEY_FILES if name != missing}
        with pytest.raises(AssertionError, match=f"compose refuses to start: set {missing}"):
            compose_settings(compose, required_variables() | given)


def test_crm_jwks_prints_public_keys_under_their_kids_only(tmp_path: Path) -> None:
    from shared.auth.keys import parse_jwks

    private, public = ed25519_pair()
    (tmp_path / "key.pub").write_text(public)
    (tmp_path / "key.pem").write_text(private)
    result = CliRunner().invoke(crm, ["jwks", f"service:customers={tmp_path / 'key.pub'}"])
    assert result.exit_code == 0, result.output
    [key] = parse_jwks(json.loads(result.output))
    assert (key.kid, key.algorithm) == ("service:customers", "EdDSA")
    for arguments in (
        [f"k={tmp_path / 'key.pem'}"],  # a private key is never published
        [f"k={tmp_path / 'key.pub'}", f"k={tmp_path / 'key.pub'}"],  # one kid, one key
        [str(tmp_path / "key.pub")],  # no kid
        [f"k={tmp_path / 'missing.pub'}"],
    ):
        assert CliRunner().invoke(crm, ["jwks", *arguments]).exit_code == 2, arguments
