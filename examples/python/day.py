#!/usr/bin/env python3
"""A controller's day and a partner's day against a Custodian server, with gql.

    python day.py controller   # create, import a CSV, page, update (and lose a race),
                               # instruct a partner, read and verify the access ledger
    python day.py partner      # mint a scoped token (platform admin), then use it

Configuration comes from the environment:

    CUSTODIAN_URL               http://127.0.0.1:8080
    CUSTODIAN_TENANT            the controller's tenant id
    CUSTODIAN_CONTROLLER_TOKEN  a controller_admin token for it
    CUSTODIAN_ADMIN_TOKEN       a platform_admin token (partner day: minting)
    CUSTODIAN_SUBPROCESSOR      an ACTIVE subprocessor's id
    CUSTODIAN_BIN               the custodian binary, for `custodian import`
    CUSTODIAN_STATE             a JSON file the controller's day leaves for the partner's

The operations are in ../operations/*.graphql. gql fetches the server's schema by
introspection and validates every operation against it before sending it. Each step
checks what it got back and exits non-zero, saying which, when it is not what a client
would expect. The last line printed is a JSON summary.
"""

import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport

HERE = Path(__file__).resolve().parent
OPERATIONS = HERE.parent / "operations"
URL = os.environ.get("CUSTODIAN_URL", "http://127.0.0.1:8080")


def client(token):
    transport = RequestsHTTPTransport(
        url=f"{URL}/graphql",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return Client(transport=transport, fetch_schema_from_transport=True)


def load(name):
    return gql((OPERATIONS / f"{name}.graphql").read_text())


class Result:
    def __init__(self, data, errors):
        self.data, self.errors = data, errors


def run(session, document, operation, **variables):
    """The whole result (data and errors), not only data: errors are expected too."""
    try:
        r = session.execute(
            document,
            operation_name=operation,
            variable_values=variables,
            get_execution_result=True,
        )
        return Result(r.data, r.errors)
    except TransportQueryError as e:
        # gql raises when no data came back; the errors are the answer.
        errors = e.errors if isinstance(e.errors, list) else [e.errors]
        return Result(e.data, errors)


def expect(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def codes(result):
    return [e.get("extensions", {}).get("code") for e in (result.errors or [])]


def access_log(session, ops):
    """The tenant's whole ledger, oldest first, a page at a time."""
    records, after = [], None
    while True:
        log = run(session, ops, "AccessLog", first=50, after=after)
        expect(not log.errors, f"access log page {len(records) // 50 + 1} reads")
        records += log.data["accessLog"]["nodes"]
        if not log.data["accessLog"]["pageInfo"]["hasNextPage"]:
            return records
        after = log.data["accessLog"]["pageInfo"]["endCursor"]


def controller_day():
    token = os.environ["CUSTODIAN_CONTROLLER_TOKEN"]
    tenant = os.environ["CUSTODIAN_TENANT"]
    ops = load("controller")
    summary = {}
    with client(token) as s:
        created = run(s, ops, "CreateContact", input={
            "firstName": "Ada", "lastName": "Lovelace", "employer": "Analytical Engines",
            "emails": [{"address": "ada@example.com"}],
        })
        expect(not created.errors, "createContact succeeds")
        ada = created.data["createContact"]

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "contacts.csv"
            with path.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["firstName", "lastName", "email", "country"])
                for i in range(25):
                    w.writerow([f"Imported{i}", "Person", f"imported{i}@example.com", "FR"])
            done = subprocess.run(
                [os.environ.get("CUSTODIAN_BIN", "custodian"), "import", "--tenant", tenant,
                 "--url", URL, "--token", token, str(path)],
                capture_output=True, text=True, check=False,
            )
            expect(done.returncode == 0, f"custodian import of 25 rows ({done.stderr.strip()[-200:]})")

        seen, after, pages = [], None, 0
        while True:
            page = run(s, ops, "ContactPage", first=10, after=after)
            expect(not page.errors, f"contacts page {pages + 1}")
            conn = page.data["contacts"]
            seen += conn["nodes"]
            pages += 1
            if not conn["pageInfo"]["hasNextPage"]:
                break
            after = conn["pageInfo"]["endCursor"]
        expect(len(seen) == 26 and conn["totalCount"] == 26, f"26 contacts over {pages} pages")
        expect(len({c["id"] for c in seen}) == 26, "no contact twice across pages")

        first = run(s, ops, "UpdateContact", id=ada["id"], input={"jobTitle": "Analyst"},
                    expectedVersion=ada["version"])
        expect(not first.errors, "an update at the current version succeeds")
        stale = run(s, ops, "UpdateContact", id=ada["id"], input={"jobTitle": "Countess"},
                    expectedVersion=ada["version"])
        expect(codes(stale) == ["CONFLICT"], f"a stale update is a CONFLICT ({codes(stale)})")

        instructed = run(s, ops, "InstructPartner", input={
            "purpose": "SUPPORT", "actorKinds": ["SUBPROCESSOR"],
            "subprocessorIds": [os.environ["CUSTODIAN_SUBPROCESSOR"]],
            "dataCategories": ["IDENTITY", "CONTACT_DETAILS"], "operations": ["READ"],
            "externalReference": "DPA annex 2",
        })
        expect(not instructed.errors, "an instruction names the partner")

        records = access_log(s, ops)
        ops_seen = {r["operation"] for r in records}
        expect(ops_seen == {"READ", "WRITE"}, f"the ledger holds the reads and the writes ({sorted(ops_seen)})")
        chained = all(b["prevHash"] == a["hash"] for a, b in zip(records, records[1:]))
        expect(chained, f"{len(records)} records, each chained to the one before")
        verified = run(s, ops, "VerifyAccessLog")
        v = verified.data["verifyAccessLog"]
        expect(v["valid"] and v["checked"] >= len(records) - v["unsealed"], f"the chain verifies ({v['checked']} checked)")
        summary.update(contacts=len(seen), pages=pages, records=len(records), verified=v["checked"])

    state = os.environ.get("CUSTODIAN_STATE")
    if state:
        Path(state).write_text(json.dumps({"contact": ada["id"]}))
    return summary


def partner_day():
    tenant = os.environ["CUSTODIAN_TENANT"]
    ops = load("partner")
    contact = json.loads(Path(os.environ["CUSTODIAN_STATE"]).read_text())["contact"]
    with client(os.environ["CUSTODIAN_ADMIN_TOKEN"]) as admin:
        minted = run(admin, ops, "MintPartnerToken", input={
            "tenantId": tenant, "subprocessorId": os.environ["CUSTODIAN_SUBPROCESSOR"],
            "purpose": "SUPPORT", "scopes": ["contacts.identity:read", "contacts.contact_details:read"],
            "ttlSeconds": 3600,
        })
        expect(not minted.errors, "the platform admin mints a scoped partner token")
        token = minted.data["mintPartnerToken"]["token"]
    with client(token) as partner:
        me = run(partner, ops, "WhoAmI").data["viewer"]
        expect(me["actorKind"] == "SUBPROCESSOR" and me["tenantId"] == tenant, "the token is the partner's, for one tenant")
        read = run(partner, ops, "PartnerReadsContact", id=contact)
        expect(not read.errors and read.data["contact"]["emails"] == [{"address": "ada@example.com"}],
               "the partner reads what its scopes and the instruction cover")
        outside = run(partner, ops, "PartnerReadsOutsideItsScope", id=contact)
        expect(codes(outside) == ["FORBIDDEN"] and "employer" in outside.data["contact"]
               and outside.data["contact"]["employer"] is None,
               "a field outside the scopes is FORBIDDEN, the rest still answers")
        missing = run(partner, ops, "PartnerReadsContact", id="00000000-0000-7000-8000-000000000000")
        expect(codes(missing) == ["NOT_FOUND"], "a contact that is not there is NOT_FOUND")
    with client(os.environ["CUSTODIAN_CONTROLLER_TOKEN"]) as controller:
        mine = [r for r in access_log(controller, load("controller")) if r["actorKind"] == "SUBPROCESSOR"]
        outcomes = sorted({r["outcome"] for r in mine})
        expect(outcomes == ["ALLOWED", "DENIED"], f"the controller sees the partner's reads, allowed and denied ({outcomes})")
    return {"partnerRecords": len(mine)}


if __name__ == "__main__":
    day = sys.argv[1] if len(sys.argv) > 1 else ""
    if day not in ("controller", "partner"):
        sys.exit(__doc__)
    print(json.dumps(controller_day() if day == "controller" else partner_day()))
