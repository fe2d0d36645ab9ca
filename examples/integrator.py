"""A formflow integrator in 60 lines: create, list with a filter, update with If-Match,
retry safely with an Idempotency-Key.

    formflow app install examples/repair.json
    export FORMFLOW_KEY=$(formflow key create admin --app repair --write)
    python examples/integrator.py [http://127.0.0.1:8080]

Needs httpx. Works on any app with a text field "title" and a number field "qty"
in form "ticket" (set APP/FORM below for another one).
"""
from __future__ import annotations

import os
import sys
import uuid

import httpx

APP, FORM = os.environ.get("FORMFLOW_APP", "repair"), os.environ.get("FORMFLOW_FORM", "ticket")


def main(base_url: str) -> None:
    key = os.environ["FORMFLOW_KEY"]
    records = f"/api/v1/apps/{APP}/forms/{FORM}/records"
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        # 1. create, safe to retry: the same Idempotency-Key never creates a second record
        idem = {"Idempotency-Key": str(uuid.uuid4())}
        new = {"title": "Pump leaks", "qty": 2}
        first = api.post(records, json=new, headers=idem)
        first.raise_for_status()
        retry = api.post(records, json=new, headers=idem)   # e.g. after a timeout
        assert retry.json()["_id"] == first.json()["_id"], "a retry must not create a second record"
        print("created", first.json()["_id"], "(retry replayed:", retry.headers.get("Idempotent-Replayed"), ")")

        # 2. list with a filter and a sort, following the cursor
        params = {"filter": "qty >= 2", "sort": "-_created_at", "limit": 100, "fields": "title,qty"}
        cursor, seen = None, 0
        while True:
            page = api.get(records, params={**params, **({"cursor": cursor} if cursor else {})})
            page.raise_for_status()
            seen += len(page.json()["records"])
            cursor = page.json()["next_cursor"]
            if not cursor:
                break
        print("records with qty >= 2:", seen)

        # 3. update with If-Match: 412 means someone else changed it; reload and reapply
        url = f"{records}/{first.json()['_id']}"
        for _attempt in range(3):
            current = api.get(url)
            changed = api.patch(url, json={"qty": int(current.json()["qty"]) + 1},
                                headers={"If-Match": current.headers["ETag"]})
            if changed.status_code != 412:
                break
        changed.raise_for_status()
        print("updated to version", changed.json()["_version"], "qty", changed.json()["qty"])

        # errors are RFC 9457 problem documents with located errors
        bad = api.post(records, json={"qty": "many"})
        print("invalid record ->", bad.status_code, [(e["location"], e["message"]) for e in bad.json()["errors"]])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
