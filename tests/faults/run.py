#!/usr/bin/env python3
"""Fault injection against a real server on PostgreSQL; nothing acknowledged may be lost.

    python3 tests/faults/run.py                     # the full run: 50 kills, 2 restarts
    python3 tests/faults/run.py --kills 6 --pg-restarts 1   # CI's short run

Standard library only. It creates its own database (`custodian_faults`) with the owner
and application roles laid out as in production, starts `custodian serve` (the debug
build unless CUSTODIAN_BIN says otherwise) as the application role, and drives a
concurrent mixed load — creates, updates, reads, and `custodian import` runs — while it

  * kills the server with SIGKILL at random moments and starts it again, `--kills` times;
  * restarts PostgreSQL itself (`pg_ctlcluster … restart -m immediate`) `--pg-restarts`
    times, checking meanwhile that `/readyz` answers 503, that requests fail with a coded
    answer rather than hang, and that the same server recovers by itself.

Every acknowledged response goes into a client-side journal. Afterwards, read as the
database superuser: every acknowledged write is there, every response that carried
personal data has its ledger record (by its request id), no record is duplicated,
every import ran exactly once per row, and every tenant's chain verifies
(`custodian ledger verify`). The last line printed is a JSON summary; the exit status is
non-zero when anything was lost.
"""

import argparse
import atexit
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CUSTODIAN_BIN", os.path.join(ROOT, "target", "debug", "custodian"))
HOST = os.environ.get("PGHOST_PORT", "127.0.0.1:5432")
DB = "custodian_faults"
PORT = 18390


def log(msg):
    print(f"[faults] {msg}", file=sys.stderr, flush=True)


def url(user, db=DB):
    return f"postgres://{user}@{HOST}/{db}?sslmode=disable"


def psql(sql, db=DB):
    # On standard input, not as an argument: the check lists every acknowledged create's
    # id in one statement, past the kernel's 128 KB limit on one argument at about 3,300.
    out = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", url("postgres", db)],
        input=sql.rstrip().rstrip(";") + ";\n", capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def cluster():
    version = sorted(os.listdir("/etc/postgresql"))[0]
    return version


def pg_ready():
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode == 0


class Server:
    def __init__(self, data):
        self.data = data
        self.proc = None
        self.base = f"http://127.0.0.1:{PORT}"

    def start(self):
        env = dict(os.environ)
        env.update({
            "CUSTODIAN_BIND": f"127.0.0.1:{PORT}",
            "CUSTODIAN_DATA_DIR": self.data,
            "CUSTODIAN_DATABASE_URL": url("custodian_app"),
            "CUSTODIAN_RATE_LIMIT_PER_TOKEN": "0",
            "CUSTODIAN_RATE_LIMIT_PER_TENANT": "0",
            "CUSTODIAN_DB_ACQUIRE_TIMEOUT_MS": "2000",
            "RUST_LOG": "warn",
        })
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.data, "server.log"), "a"))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/readyz", timeout=1)
                return
            except Exception:
                time.sleep(0.05)
        raise SystemExit("the server did not become ready")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def token(data, *args):
    out = subprocess.run([BIN, "token", "--data-dir", data, "--ttl", "86400", *args],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


def post(base, tok, query, variables, request_id, timeout=15):
    body = json.dumps({"query": query, "variables": variables}).encode()
    req = urllib.request.Request(f"{base}/graphql", data=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {tok}",
        "x-request-id": request_id})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.load(r)


class Journal:
    def __init__(self):
        self.lock = threading.Lock()
        self.created = []      # (tenant, contact id, request id)
        self.updated = []      # (tenant, contact id, version, job title, request id)
        self.reads = []        # (tenant, contact id, request id)
        self.imports = []      # (tenant, key, rows) completed
        self.failed = 0        # requests that did not get an answer (not acknowledged)
        self.refused = {}      # code -> count of coded refusals

    def add(self, kind, item):
        with self.lock:
            getattr(self, kind).append(item)


def worker(stop, base_of, tenants, journal, seed):
    rnd = random.Random(seed)
    mine = []
    while not stop.is_set():
        tenant, tok = rnd.choice(tenants)
        rid = f"faults-{uuid.uuid4().hex}"
        try:
            choice = rnd.random()
            if choice < 0.45 or not mine:
                status, body = post(base_of(), tok,
                                    "mutation($i: ContactInput!) { createContact(input: $i) { id version } }",
                                    {"i": {"firstName": f"F{rnd.randrange(10**6)}", "lastName": "Fault",
                                           "emails": [{"address": f"{uuid.uuid4().hex[:12]}@example.org"}]}}, rid)
                if body.get("errors"):
                    code = body["errors"][0].get("extensions", {}).get("code")
                    journal.refused[code] = journal.refused.get(code, 0) + 1
                    continue
                c = body["data"]["createContact"]
                journal.add("created", (tenant, c["id"], rid))
                mine.append((tenant, tok, c["id"], c["version"]))
            elif choice < 0.65:
                i = rnd.randrange(len(mine))
                t, ttok, cid, version = mine[i]
                title = f"T{rnd.randrange(10**6)}"
                status, body = post(base_of(), ttok,
                                    "mutation($id: ID!, $v: Int!, $t: String) { updateContact(id: $id, input: {jobTitle: $t}, expectedVersion: $v) { version jobTitle } }",
                                    {"id": cid, "v": version, "t": title}, rid)
                if body.get("errors"):
                    code = body["errors"][0].get("extensions", {}).get("code")
                    journal.refused[code] = journal.refused.get(code, 0) + 1
                    if code == "CONFLICT":
                        # An update acknowledged by nobody (the server died after it
                        # committed) moved the version: read it again.
                        s2, b2 = post(base_of(), ttok, "query($id: ID!) { contact(id: $id) { version } }",
                                      {"id": cid}, f"faults-{uuid.uuid4().hex}")
                        if not b2.get("errors"):
                            mine[i] = (t, ttok, cid, b2["data"]["contact"]["version"])
                    continue
                u = body["data"]["updateContact"]
                mine[i] = (t, ttok, cid, u["version"])
                journal.add("updated", (t, cid, u["version"], title, rid))
            else:
                t, ttok, cid, _ = rnd.choice(mine)
                status, body = post(base_of(), ttok,
                                    "query($id: ID!) { contact(id: $id) { firstName emails { address } } }",
                                    {"id": cid}, rid)
                if body.get("errors") or not body.get("data"):
                    code = (body.get("errors") or [{}])[0].get("extensions", {}).get("code")
                    journal.refused[code] = journal.refused.get(code, 0) + 1
                    continue
                if body["data"]["contact"]["firstName"]:
                    journal.add("reads", (t, cid, rid))
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
            with journal.lock:
                journal.failed += 1
            time.sleep(0.05)


def importer(stop, base_of, tenants, tmp, journal, seed):
    rnd = random.Random(seed)
    n = 0
    while not stop.is_set():
        tenant, tok = rnd.choice(tenants)
        n += 1
        key = f"faults-{seed}-{n}"
        rows = rnd.randrange(50, 400)
        path = os.path.join(tmp, f"{key}.csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["firstName", "lastName", "email", "custom.key"])
            for i in range(rows):
                w.writerow([f"I{i}", "Imported", f"{key}-{i}@example.org", key])
        # Resumed until it completes: a kill mid-import must not duplicate a row.
        while True:
            done = subprocess.run([BIN, "import", "--tenant", tenant, "--url", base_of(), "--token", tok,
                                   "--import-key", key, "--batch-size", "100", path],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                journal.add("imports", (tenant, key, rows))
                break
            time.sleep(0.2)
        time.sleep(rnd.random())


def setup(tmp):
    for sql in [
        "DO $$ BEGIN CREATE ROLE custodian_owner LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
        "DO $$ BEGIN CREATE ROLE custodian_app LOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
        f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)",
        f"CREATE DATABASE {DB} OWNER custodian_owner",
    ]:
        psql(sql, db="postgres")
    subprocess.run([BIN, "migrate", "--database-url", url("custodian_owner"), "--app-role", "custodian_app"],
                   check=True, capture_output=True)
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    return data


def check(journal, tenants, data):
    problems = []
    ids = "','".join(c for _, c, _ in journal.created)
    present = set(psql(f"SELECT id FROM contacts WHERE id IN ('{ids}')").split()) if journal.created else set()
    lost = [c for _, c, _ in journal.created if c not in present]
    if lost:
        problems.append(f"{len(lost)} acknowledged creates lost: {lost[:3]}")
    # The last acknowledged update of each contact is what it holds (or a later one,
    # acknowledged to nobody, that moved its version further).
    last = {}
    for t, cid, version, title, _ in journal.updated:
        if cid not in last or version > last[cid][0]:
            last[cid] = (version, title)
    for cid, (version, title) in last.items():
        row = psql(f"SELECT version, coalesce(job_title, '') FROM contacts WHERE id = '{cid}'")
        got_version, got_title = row.split("|")
        if int(got_version) < version or (int(got_version) == version and got_title != title):
            problems.append(f"update lost on {cid}: acknowledged v{version} {title}, stored v{got_version} {got_title}")
    records = "SELECT request_id, operation FROM access_records UNION ALL SELECT request_id, operation FROM access_pending"
    counts = {}
    for line in psql(f"SELECT request_id, operation, count(*) FROM ({records}) r WHERE request_id LIKE 'faults-%' GROUP BY 1, 2").splitlines():
        rid, op, n = line.split("|")
        counts[(rid, op)] = int(n)
    duplicated = [k for k, n in counts.items() if n > 1]
    if duplicated:
        problems.append(f"{len(duplicated)} records duplicated: {duplicated[:3]}")
    checked = 0
    for kind, op in [("created", "WRITE"), ("reads", "READ")]:
        for item in getattr(journal, kind):
            rid = item[-1]
            checked += 1
            if (rid, op) not in counts:
                problems.append(f"no {op} record for acknowledged request {rid}")
    for _, _, _, _, rid in journal.updated:
        checked += 1
        if (rid, "WRITE") not in counts:
            problems.append(f"no WRITE record for acknowledged update {rid}")
    for tenant, key, rows in journal.imports:
        n = int(psql(f"SELECT count(*) FROM contacts WHERE tenant_id = '{tenant}' AND custom_fields->>'key' = '{key}'"))
        if n != rows:
            problems.append(f"import {key}: {rows} rows acknowledged, {n} stored")
    verified = 0
    for tenant, _ in tenants:
        out = subprocess.run([BIN, "ledger", "verify", "--tenant", tenant, "--database-url", url("custodian_owner"),
                              "--data-dir", data], capture_output=True, text=True)
        report = json.loads(out.stdout or "{}")
        if not report.get("valid"):
            problems.append(f"tenant {tenant}'s chain does not verify: {report or out.stderr[-300:]}")
        verified += report.get("checked", 0)
    return problems, checked, verified


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--pg-restarts", type=int, default=2)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--tenants", type=int, default=3)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    random.seed(args.seed)
    log(f"seed {args.seed}")
    tmp = tempfile.mkdtemp(prefix="custodian-faults-")
    data = setup(tmp)
    server = Server(data)
    # A run that fails part-way must not leave its server on the port for the next run
    # (which would then talk to a server holding another signing key).
    server.start()
    atexit.register(server.kill)
    admin = token(data, "--role", "platform_admin", "--sub", "faults")
    tenants = []
    for i in range(args.tenants):
        _, body = post(server.base, admin,
                       "mutation($n: String!) { createTenant(input: {name: $n, jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }",
                       {"n": f"Faults {i}"}, f"setup-{i}")
        t = body["data"]["createTenant"]["id"]
        tenants.append((t, token(data, "--role", "controller_admin", "--tenant", t, "--sub", f"owner{i}")))
    journal = Journal()
    stop = threading.Event()
    base_of = lambda: server.base
    threads = [threading.Thread(target=worker, args=(stop, base_of, tenants, journal, args.seed + i), daemon=True)
               for i in range(args.workers)]
    threads.append(threading.Thread(target=importer, args=(stop, base_of, tenants, tmp, journal, args.seed), daemon=True))
    for t in threads:
        t.start()
    kills, restarts, unready_seen, recovery = 0, 0, 0, []
    down_codes, slowest_down = {}, 0.0
    plan = ["kill"] * args.kills + ["pg"] * args.pg_restarts
    random.shuffle(plan)
    for step in plan:
        time.sleep(random.uniform(0.2, 1.2))
        if step == "kill":
            server.kill()
            kills += 1
            time.sleep(random.uniform(0, 0.3))
            server.start()
        else:
            restarts += 1
            pg = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster(), "main"]
            subprocess.run(pg + ["stop", "-m", "immediate"], check=True, capture_output=True)
            # While it is down, the server says so and answers every request, coded,
            # within its timeouts (no hang).
            down_until = time.time() + random.uniform(1.0, 3.0)
            while time.time() < down_until:
                try:
                    urllib.request.urlopen(f"{server.base}/readyz", timeout=5)
                except urllib.error.HTTPError as e:
                    if e.code == 503:
                        unready_seen += 1
                asked = time.time()
                try:
                    _, body = post(server.base, tenants[0][1], "{ contacts { totalCount } }", {},
                                   f"down-{uuid.uuid4().hex}", timeout=10)
                    code = (body.get("errors") or [{}])[0].get("extensions", {}).get("code")
                    down_codes[code] = down_codes.get(code, 0) + 1
                except urllib.error.HTTPError as e:
                    down_codes[f"http {e.code}"] = down_codes.get(f"http {e.code}", 0) + 1
                slowest_down = max(slowest_down, time.time() - asked)
                time.sleep(0.1)
            subprocess.run(pg + ["start"], check=True, capture_output=True)
            # Then the same server recovers by itself.
            started = time.time()
            while time.time() - started < 60:
                try:
                    urllib.request.urlopen(f"{server.base}/readyz", timeout=5)
                    _, body = post(server.base, tenants[0][1], "{ contacts { totalCount } }", {},
                                   f"up-{uuid.uuid4().hex}")
                    if not body.get("errors"):
                        break
                except Exception:
                    pass
                time.sleep(0.05)
            else:
                raise SystemExit("the server did not recover from the PostgreSQL restart")
            recovery.append(round(time.time() - started, 2))
        log(f"{step} done ({kills} kills, {restarts} restarts; {len(journal.created)} creates acknowledged)")
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    # Let the last server seal what it holds, then read everything as the superuser.
    time.sleep(1)
    server.kill()
    server.start()
    time.sleep(1)
    problems, checked, verified = check(journal, tenants, data)
    if restarts and (not unready_seen or set(down_codes) - {"RATE_LIMITED"}):
        problems.append(f"while PostgreSQL was down: /readyz 503 seen {unready_seen} times, answers {down_codes}")
    if slowest_down > 8:
        problems.append(f"an answer took {slowest_down:.1f} s while PostgreSQL was down")
    server.kill()
    summary = {
        "seed": args.seed, "kills": kills, "pgRestarts": restarts, "readyzUnavailableSeen": unready_seen,
        "recoverySeconds": recovery,
        "answersWhileDown": down_codes, "slowestAnswerWhileDown": round(slowest_down, 2), "acknowledgedCreates": len(journal.created),
        "acknowledgedUpdates": len(journal.updated), "acknowledgedReads": len(journal.reads),
        "importsCompleted": len(journal.imports), "importedRows": sum(r for _, _, r in journal.imports),
        "unacknowledged": journal.failed, "codedRefusals": journal.refused,
        "recordsChecked": checked, "chainRecordsVerified": verified, "lost": len(problems),
    }
    for p in problems[:20]:
        log(f"PROBLEM: {p}")
    print(json.dumps(summary))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
