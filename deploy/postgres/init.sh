#!/usr/bin/env bash
# Run once by the postgres image on an empty data directory (mounted in
# /docker-entrypoint-initdb.d/). Passwords come from the environment; none has a
# default. Creates:
# - crm_owner (CRM_DB_OWNER_PASSWORD): owns every service's database and its
#   tables; only the migrations step (`crm migrate`) connects as it;
# - crm_<service> (CRM_<SERVICE>_DB_PASSWORD): what that service's web and worker
#   processes connect as: CONNECT on its own database only, and data rights
#   (SELECT, INSERT, UPDATE, DELETE, sequences) on the tables the owner creates
#   there. No DDL, no other service's database.
set -euo pipefail

services=(customers tags registration notifications automation)
: "${CRM_DB_OWNER_PASSWORD:?set CRM_DB_OWNER_PASSWORD}"
for service in "${services[@]}"; do
    variable="CRM_${service^^}_DB_PASSWORD"
    : "${!variable:?set $variable}"
done

psql=(psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --no-password --no-psqlrc)

"${psql[@]}" --dbname postgres -v password="$CRM_DB_OWNER_PASSWORD" <<'SQL'
CREATE ROLE crm_owner LOGIN PASSWORD :'password';
SQL

for service in "${services[@]}"; do
    variable="CRM_${service^^}_DB_PASSWORD"
    "${psql[@]}" --dbname postgres -v db="crm_$service" -v role="crm_$service" \
        -v password="${!variable}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER crm_owner;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"role";
SQL
    "${psql[@]}" --dbname "crm_$service" -v role="crm_$service" <<'SQL'
ALTER SCHEMA public OWNER TO crm_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"role";
ALTER DEFAULT PRIVILEGES FOR ROLE crm_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"role";
ALTER DEFAULT PRIVILEGES FOR ROLE crm_owner IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"role";
SQL
done
