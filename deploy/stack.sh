#!/usr/bin/env bash
# `make stack`: the real mode on this machine. Every service's web and worker
# processes (Procfile, supervised by `crm supervise`) against the RabbitMQ, PostgreSQL and SMTP server
# named by the environment (defaults: the local ones, plus a local SMTP sink
# writing .eml files in var/mail/), behind an nginx gateway on $PORT (8000).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

log() { printf 'stack: %s\n' "$*" >&2; }

# --- nginx -------------------------------------------------------------------
PATH="$PATH:/usr/sbin:/sbin"
if ! command -v nginx >/dev/null 2>&1; then
    log "nginx not found; installing it with apt-get"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    if ! $SUDO apt-get install -y nginx; then
        $SUDO apt-get update
        $SUDO apt-get install -y nginx
    fi
fi

# --- configuration: keep what the environment already says --------------------
export PORT="${PORT:-8000}"
export CRM_ENV="${CRM_ENV:-development}"
DEFAULT_DATABASE_URL='postgresql+psycopg://postgres@127.0.0.1:5432/crm_{service}'
export CRM_DATABASE_URL="${CRM_DATABASE_URL:-$DEFAULT_DATABASE_URL}"
# Each service logs in as its own broker user, crm-<service> (`crm broker-setup`
# creates them on the local broker with their development passwords).
DEFAULT_BROKER_URL='amqp://crm-{service}:dev-crm-{service}@127.0.0.1:5672//'
export CRM_BROKER_URL="${CRM_BROKER_URL:-$DEFAULT_BROKER_URL}"
export CRM_SMTP_HOST="${CRM_SMTP_HOST:-127.0.0.1}"
export CRM_SMTP_PORT="${CRM_SMTP_PORT:-1025}"
export CRM_TAGS_URL="${CRM_TAGS_URL:-http://127.0.0.1:$PORT}"
export CRM_MAIL_DIR="${CRM_MAIL_DIR:-$ROOT/var/mail}"

SERVICES=(customers tags registration notifications automation)

# One Prometheus multiprocess dir per service (the Procfile gives each process
# its own service's); emptied at start so no dead process's samples linger.
mkdir -p "$CRM_MAIL_DIR"
for service in "${SERVICES[@]}"; do
    rm -rf "$ROOT/var/prom/$service"
    mkdir -p "$ROOT/var/prom/$service"
done

# --- gateway config ----------------------------------------------------------
NGINX_DIR="$ROOT/var/nginx"
mkdir -p "$NGINX_DIR/tmp"
NGINX_USER_DIRECTIVE="# user: the current one (not root)"
if [ "$(id -u)" -eq 0 ]; then
    # As root, nginx would run its workers as an unprivileged user that may not
    # reach var/nginx inside this checkout; keep them as the invoking user.
    NGINX_USER_DIRECTIVE="user $(id -un) $(id -gn);"
fi
sed -e "s|\${NGINX_DIR}|$NGINX_DIR|g" \
    -e "s|\${PORT}|$PORT|g" \
    -e "s|\${NGINX_USER_DIRECTIVE}|$NGINX_USER_DIRECTIVE|g" \
    deploy/gateway/nginx.local.conf.template >"$NGINX_DIR/nginx.conf"
cp deploy/gateway/edge.conf deploy/gateway/routes.conf "$NGINX_DIR/"
nginx -t -q -c "$NGINX_DIR/nginx.conf"

# --- servers -----------------------------------------------------------------
listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

check_server() {  # name variable default_port
    local host port
    read -r host port < <(python -c '
import sys
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1].replace("{service}", "x"))
print(url.hostname or "127.0.0.1", url.port or sys.argv[2])
' "${!2}" "$3")
    if ! listening "$host" "$port"; then
        log "$1 does not answer on $host:$port: start it, or point $2 at one"
        exit 1
    fi
}
case "$CRM_DATABASE_URL" in
    postgresql*) check_server PostgreSQL CRM_DATABASE_URL 5432 ;;
esac
case "$CRM_BROKER_URL" in
    amqp*) check_server RabbitMQ CRM_BROKER_URL 5672 ;;
esac
if [ "$CRM_BROKER_URL" = "$DEFAULT_BROKER_URL" ]; then
    # The local broker: the services' users, their permissions (each may publish
    # only its own event types) and the delivery-limit policy.
    crm broker-setup --delivery-limit "${CRM_DELIVERY_LIMIT:-5}" >&2
fi

PROCESSES=()
for service in "${SERVICES[@]}"; do
    PROCESSES+=("$service-web" "$service-worker")
done
PROCESSES+=(gateway)
if listening "$CRM_SMTP_HOST" "$CRM_SMTP_PORT"; then
    log "an SMTP server answers on $CRM_SMTP_HOST:$CRM_SMTP_PORT; using it (no local sink)"
else
    case "$CRM_SMTP_HOST" in
        127.0.0.1 | localhost | ::1)
            log "starting the local SMTP sink on port $CRM_SMTP_PORT (mail in $CRM_MAIL_DIR)"
            PROCESSES+=(mail)
            ;;
        *) log "warning: SMTP server $CRM_SMTP_HOST:$CRM_SMTP_PORT does not answer" ;;
    esac
fi

# --- databases, then everything ----------------------------------------------
# Migrations are their own step, before any process starts (the web and worker
# processes do not migrate).
crm migrate all

# `crm supervise` restarts a process that dies (backoff 1 s doubling to 30 s,
# logged) while the others keep serving; SIGINT/SIGTERM stop every process group.
log "gateway on http://127.0.0.1:$PORT (e.g. /tags/docs); Ctrl-C stops everything"
exec crm supervise -f Procfile "${PROCESSES[@]}"
