"""The minimal Flask + SQLite endpoint formflow's API is measured against (benchmarks/bench_api.py).

It does the same work with nothing else: insert a JSON row, list rows with a filter
and a sort, get a row by id. No validation, auth, ETags, history or events.
Serve with: BASELINE_DB=/tmp/base.db gunicorn benchmarks.baseline_app:app
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid

from flask import Flask, Response, request

DB = os.environ.get("BASELINE_DB", "/tmp/formflow-baseline.db")
app = Flask(__name__)
_local = threading.local()


def conn() -> sqlite3.Connection:
    c = getattr(_local, "conn", None)
    if c is None:
        c = _local.conn = sqlite3.connect(DB, timeout=30, isolation_level=None, check_same_thread=False)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("CREATE TABLE IF NOT EXISTS rec (id TEXT PRIMARY KEY, created_at TEXT, data TEXT)")
    return c


@app.post("/records")
def create():
    data = request.get_json()
    rid = uuid.uuid4().hex
    conn().execute("INSERT INTO rec VALUES (?, strftime('%Y-%m-%dT%H:%M:%f', 'now'), ?)", (rid, json.dumps(data)))
    return Response(json.dumps({"_id": rid, **data}), 201, mimetype="application/json")


@app.get("/records")
def list_():
    qty = float(request.args.get("min_qty", 0))
    rows = conn().execute("SELECT id, data FROM rec WHERE json_extract(data, '$.qty') >= ? "
                          "ORDER BY json_extract(data, '$.qty') DESC, id LIMIT ?",
                          (qty, int(request.args.get("limit", 50)))).fetchall()
    return Response(json.dumps({"records": [{"_id": i, **json.loads(d)} for i, d in rows]}),
                    mimetype="application/json")


@app.get("/records/<rid>")
def get(rid):
    row = conn().execute("SELECT data FROM rec WHERE id = ?", (rid,)).fetchone()
    if row is None:
        return Response('{"error": "not found"}', 404, mimetype="application/json")
    return Response(json.dumps({"_id": rid, **json.loads(row[0])}), mimetype="application/json")
