#!/usr/bin/env bash
# The cost of row-level security, measured in one run: the SQL the server emits for an
# audited contact read (by id, and a 20-row page), as the application role (policies on)
# and as a role with BYPASSRLS (policies off), same data, same pgbench settings.
#
#   bash bench/rls_cost.sh   # env: DURATION=10 ROUNDS=3 CLIENTS=4 TENANTS=100 PER_TENANT=1000
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTPORT=${HOSTPORT:-127.0.0.1:5432}
ADMIN="postgres://postgres@$HOSTPORT"
DB=custodian_bench_rls
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
TENANTS=${TENANTS:-100}
PER_TENANT=${PER_TENANT:-1000}

cargo build --release -q -p custodian-api
psql -q "$ADMIN/postgres" <<SQL
DO \$\$ BEGIN CREATE ROLE custodian_owner LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
DO \$\$ BEGIN CREATE ROLE custodian_app LOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
DO \$\$ BEGIN CREATE ROLE custodian_bench_bypass LOGIN NOSUPERUSER BYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
DROP DATABASE IF EXISTS $DB WITH (FORCE);
CREATE DATABASE $DB OWNER custodian_owner;
SQL
target/release/custodian migrate --database-url "postgres://custodian_owner@$HOSTPORT/$DB" >/dev/null
target/release/custodian migrate --database-url "postgres://custodian_owner@$HOSTPORT/$DB" --app-role custodian_bench_bypass >/dev/null
psql -q "$ADMIN/$DB" <<SQL
INSERT INTO tenants SELECT md5('t' || t)::uuid, 'T' || t, '["EEA"]', true, 'ACTIVE', 'bench', now(), now()
  FROM generate_series(1, $TENANTS) t;
INSERT INTO contacts SELECT md5('t' || t)::uuid, md5('c' || t || '-' || c)::uuid, 'First' || c, 'Last' || c,
  '[{"address":"x@example.com","kind":"WORK"}]', '[{"number":"+442071234567","kind":"MOBILE"}]', '[]',
  NULL, NULL, '{}', '[]', 'DIRECT', 'UNKNOWN', 'UNKNOWN', 'UNKNOWN', false, false, 'first last', 1,
  now() - (c || ' seconds')::interval, now()
  FROM generate_series(1, $TENANTS) t, generate_series(1, $PER_TENANT) c;
VACUUM ANALYZE;
SQL

work=$(mktemp -d)
cat > "$work/by_id.sql" <<SQL
\set t random(1, $TENANTS)
\set c random(1, $PER_TENANT)
BEGIN;
SELECT set_config('app.tenant_id', md5('t' || :t)::uuid::text, true);
SELECT * FROM contacts WHERE tenant_id = md5('t' || :t)::uuid AND id = md5('c' || :t || '-' || :c)::uuid;
COMMIT;
SQL
cat > "$work/page.sql" <<SQL
\set t random(1, $TENANTS)
BEGIN;
SELECT set_config('app.tenant_id', md5('t' || :t)::uuid::text, true);
SELECT * FROM contacts WHERE tenant_id = md5('t' || :t)::uuid ORDER BY created_at, id LIMIT 21;
COMMIT;
SQL

tps() { # role script
  pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -f "$work/$2" "postgres://$1@$HOSTPORT/$DB" 2>/dev/null \
    | awk '/^tps/ {print $3; exit}'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Rounds alternate the two roles so drift on a shared machine hits both alike; the
# medians are compared.
ROUNDS=${ROUNDS:-3}
printf '%-12s %14s %14s %8s\n' scenario "tps RLS on" "tps RLS off" ratio
for script in by_id.sql page.sql; do
  ons=(); offs=()
  for _ in $(seq "$ROUNDS"); do
    ons+=("$(tps custodian_app "$script")")
    offs+=("$(tps custodian_bench_bypass "$script")")
  done
  on=$(printf '%s\n' "${ons[@]}" | median)
  off=$(printf '%s\n' "${offs[@]}" | median)
  printf '%-12s %14.0f %14.0f %7.1f%%\n' "${script%.sql}" "$on" "$off" "$(echo "100 * $on / $off" | bc -l)"
done
rm -rf "$work"
[ -n "${KEEP:-}" ] || psql -q "$ADMIN/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
