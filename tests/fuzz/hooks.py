"""Schemathesis hooks for Custodian: an answer may refuse anything, but never with
INTERNAL — that would be a fault of ours the generated input found."""

import os

import schemathesis


@schemathesis.check
def no_internal_errors(ctx, response, case):
    if os.environ.get("CUSTODIAN_FUZZ_SELFTEST"):
        # Proves the check runs: the test expects this run to fail.
        raise AssertionError("self-test")
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"not JSON ({response.status_code}): {response.text[:200]}")
    for error in body.get("errors") or []:
        if (error.get("extensions") or {}).get("code") == "INTERNAL":
            raise AssertionError(f"INTERNAL error: {error}")
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}")
