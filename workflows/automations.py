"""The automation engine: events → runs → conditions → actions, every run logged.

A run is a row of ff_automation_runs. The relay (workflows/outbox.py) queues one
per committed record event an automation's trigger matches; the scheduler queues
cron and date-field runs; the API queues webhook runs and runs buttons at once.
Executing a run (one task of workflows/queue.py):

1. rebuilds the trigger record from the revision of the event (so a run, and its
   replay, sees the record exactly as the change left it; the record *before*
   is the previous revision);
2. evaluates `condition_before` on the old record and `condition` on the new one
   (the expression language, docs/expressions.md); not TRUE → the run is skipped;
3. runs the actions in order, in ONE transaction, through the record lifecycle —
   a failing action rolls back the run's writes; the log says which one failed;
4. logs the trigger snapshot, each condition's value, each action's input and
   result, timing and errors.

Writes made by a run's actions emit ordinary events, remembered with the chain
depth (ff_event_origins); a run at depth defaults.MAX_AUTOMATION_DEPTH is not
executed but logged as failed ("loop"), so automations triggering each other
cannot run forever. A dry run executes everything and rolls back.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time

import sqlalchemy as sa
from ulid import ULID

from engine import storage, tables
from engine.errors import FormflowError, NotFound
from engine.records import RecordContext, from_document, record_json
from . import actions, clock, defaults, outbox, queue, triggers
from . import definition as _definition  # noqa: F401  (installs the section checker)
from . import tables as wt

runs_t = wt.automation_runs


class LoopLimit(FormflowError):
    """An automation chain reached the depth limit."""


class _DryRun(Exception):
    pass


def new_run_id() -> str:
    return "run_" + str(ULID()).lower()


# -- the automations of installed apps ---------------------------------------------------

def automations_of(ff, conn=None) -> list[tuple[str, dict]]:
    """(app key, automation) of every installed app, cached per catalog."""
    apps = ff.installed(conn)
    cache = getattr(ff, "_wf_automations", None)
    marker = tuple(sorted((k, a.version) for k, a in apps.items()))
    if cache is None or cache[0] != marker:
        found = []
        for key, app in apps.items():
            for auto in app.definition.get("automations") or []:
                if isinstance(auto, dict) and auto.get("enabled", True) is not False:
                    found.append((key, auto))
        cache = ff._wf_automations = (marker, found)
    return cache[1]


def find(ff, app_key: str, key: str, conn=None) -> dict:
    app = ff.app(app_key, conn)
    for auto in app.definition.get("automations") or []:
        if isinstance(auto, dict) and auto.get("key") == key:
            return auto
    raise NotFound(f"app {app_key!r} has no automation {key!r}")


# -- queueing runs ------------------------------------------------------------------------

def _insert_run(conn, ff, app_key, auto, trigger: dict, *, trigger_key: str | None, depth: int = 0,
                status: str = "pending", error: str | None = None, dry_run: bool = False,
                replay_of: str | None = None, event_id=None, now: str | None = None) -> str:
    run_id = new_run_id()
    now = now or clock.now_iso(ff)
    conn.execute(runs_t.insert().values(
        id=run_id, app_key=app_key, automation=auto["key"], trigger_type=auto["trigger"]["type"],
        trigger_key=trigger_key, event_id=event_id, form_key=trigger.get("form"), record_id=trigger.get("id"),
        actor=trigger.get("actor"), depth=depth, status=status, dry_run=dry_run, replay_of=replay_of,
        trigger=json.dumps(trigger, ensure_ascii=False, default=str), error=error,
        log=json.dumps({"trigger": trigger, "error": error}) if error else None,
        next_attempt_at=now if status == "pending" else None, created_at=now,
        finished_at=now if status != "pending" else None))
    return run_id


def fan_out(ff, conn, event: dict, now: str) -> int:
    """Queue a run for every automation whose trigger matches a committed event (relay)."""
    payload = event["payload"]
    n = 0
    for app_key, auto in automations_of(ff, conn):
        if app_key != payload.get("app"):
            continue
        match = triggers.trigger_types.get(auto["trigger"]["type"]) if auto["trigger"]["type"] in triggers.trigger_types else None
        if match is None or not match(auto["trigger"], event):
            continue
        trigger = {"type": event["type"], "event_id": event["id"], "app": app_key, "form": payload.get("form"),
                   "id": payload.get("id"), "version": payload.get("version"), "actor": event["actor"],
                   "at": event["at"], "changes": payload.get("changes") or {}}
        depth = event.get("depth", 0)
        if depth >= defaults.MAX_AUTOMATION_DEPTH:
            _insert_run(conn, ff, app_key, auto, trigger, trigger_key=f"event:{event['id']}", depth=depth,
                        status="failed", event_id=event["id"], now=now,
                        error=f"loop: a chain of {depth} automations triggering each other reached the "
                              f"limit of {defaults.MAX_AUTOMATION_DEPTH}; this run was not executed")
        else:
            _insert_run(conn, ff, app_key, auto, trigger, trigger_key=f"event:{event['id']}", depth=depth,
                        event_id=event["id"], now=now)
        n += 1
    return n


# -- executing runs -----------------------------------------------------------------------

class Scope:
    """Where expressions of a run are evaluated: a record (or row, or payload) and its schema."""

    def __init__(self, run, record: dict, schema, context: dict, form=None):
        self.run = run
        self.record = record
        self.schema = schema
        self.context = context
        self.form = form

    def eval(self, source: str):
        from engine import expr
        compiled = expr.compile_expression(source, self.schema)
        try:
            return compiled.evaluate(self.record, **self.context)
        except expr.ExprError as err:
            raise actions.ActionError(f"{source!r} gives an error: {err}") from None

    def rows(self, subform_key: str) -> list["Scope"]:
        rows = self.record.get(subform_key) or []
        schema = self.form.row_expr_schema(subform_key) if self.form is not None else None
        return [Scope(self.run, row, schema, {**self.context, "parent": self.record}) for row in rows
                if isinstance(row, dict)]


class RunContext:
    """One executing run: its row, connection, trigger record and log."""

    def __init__(self, ff, row: dict, auto: dict, conn):
        self.ff = ff
        self.row = row
        self.id = row["id"]
        self.key = auto["key"]
        self.auto = auto
        self.conn = conn
        self.app_key = row["app_key"]
        self.form_key = row["form_key"]
        self.record_id = row["record_id"]
        self.actor = row["actor"]
        self.actions_done = 0
        self._owner = None

    def record_ctx(self) -> RecordContext:
        return RecordContext(actor=self.actor)

    def owner(self):
        if self._owner is None and self.record_id and self.form_key:
            try:
                self._owner = self.ff.records.get(self.app_key, self.form_key, self.record_id,
                                                  include_deleted=True, conn=self.conn)["_owner"]
            except NotFound:
                self._owner = None
        return self._owner

    def action(self, scope: Scope, spec: dict) -> dict:
        self.actions_done += 1
        if self.actions_done > defaults.MAX_ACTIONS_PER_RUN:
            raise actions.ActionError(f"a run may execute at most {defaults.MAX_ACTIONS_PER_RUN} actions")
        started = time.perf_counter()
        entry = {"type": spec["type"]}
        try:
            entry.update(actions.action_types.get(spec["type"])(self, scope, spec))
        except Exception as exc:
            entry["error"] = _message(exc)
            entry["ms"] = round((time.perf_counter() - started) * 1000, 2)
            self.log["actions"].append(entry)
            raise
        entry["ms"] = round((time.perf_counter() - started) * 1000, 2)
        if spec["type"] != "for_each":
            self.log["actions"].append(entry)
        return entry


def _message(exc) -> str:
    return exc.message if isinstance(exc, FormflowError) else f"{type(exc).__name__}: {exc}"


def _values_at(ff, conn, form, record_id: str, version: int | None) -> dict | None:
    if version is None or version < 1:
        return None
    snap = conn.execute(sa.select(tables.revisions.c.snapshot).where(
        tables.revisions.c.form_id == form.id, tables.revisions.c.record_id == record_id,
        tables.revisions.c.version == version)).scalar()
    return None if snap is None else from_document(form, storage.loads(snap))


def execute(ff, run_id: str) -> dict | None:
    """The task handler: run a queued automation run if it is due; returns its state."""
    row = queue.claim(ff, "run", run_id)
    if row is None:
        return None
    return _execute(ff, row)


def _execute(ff, row: dict, dry_run: bool = False) -> dict:
    started = time.perf_counter()
    started_at = clock.now_iso(ff)
    trigger = json.loads(row["trigger"])
    log: dict = {"trigger": trigger, "conditions": [], "actions": []}
    status, error = "done", None
    try:
        auto = find(ff, row["app_key"], row["automation"])
        with ff.db.write() as conn:
            token = outbox.current_origin.set((row["id"], row["depth"] + 1))
            try:
                run = RunContext(ff, row, auto, conn)
                run.log = log
                scope, old_scope = _scopes(ff, conn, run, auto, trigger, log)
                if _conditions(auto, scope, old_scope, log):
                    for spec in auto["actions"]:
                        run.action(scope, spec)
                else:
                    status = "skipped"
                if dry_run:
                    raise _DryRun()
            finally:
                outbox.current_origin.reset(token)
    except _DryRun:
        pass
    except Exception as exc:
        status, error = "failed", _message(exc)
        log["error"] = error
    duration = int((time.perf_counter() - started) * 1000)
    with ff.db.write() as conn:
        conn.execute(runs_t.update().where(runs_t.c.id == row["id"]).values(
            status=status, error=error, log=json.dumps(log, ensure_ascii=False, default=str)[:1_000_000],
            started_at=started_at, finished_at=clock.now_iso(ff), duration_ms=duration, locked_until=None))
    return get_run(ff, row["id"])


def _scopes(ff, conn, run, auto, trigger, log):
    """(scope after, scope before or None) of a run's trigger."""
    ttype = auto["trigger"]["type"]
    user = {"id": run.actor} if run.actor else None
    context = {"user": user} if user else {}
    if ttype in ("webhook", "schedule"):
        payload = _expr_json(trigger.get("payload") or {})
        return Scope(run, payload if isinstance(payload, dict) else {}, None, {**context, "payload": payload}), None
    app, form = ff.form(run.app_key, trigger["form"], conn)
    version = trigger.get("version")
    new = _values_at(ff, conn, form, trigger["id"], version)
    if new is None:
        raise actions.ActionError(f"record {trigger['id']} version {version} no longer exists")
    if trigger["type"] == "record.created":
        old = None
    elif trigger["type"] == "record.updated":
        old = _values_at(ff, conn, form, trigger["id"], version - 1)
    else:
        old = new
    log["trigger"] = {**trigger, "record": record_json(form, new),
                      "old": record_json(form, old) if old is not None else None}
    context = {**context, "record_id": trigger["id"]}
    schema = form.expr_schema()
    scope = Scope(run, ff.computer.expression_record(conn, form, new), schema, context, form)
    old_scope = (Scope(run, ff.computer.expression_record(conn, form, old), schema, context, form)
                 if old is not None else None)
    return scope, old_scope


def _expr_json(value):
    from decimal import Decimal
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, dict):
        return {k: _expr_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expr_json(v) for v in value]
    return value


def _conditions(auto, scope, old_scope, log) -> bool:
    for name, sc in (("condition_before", old_scope), ("condition", scope)):
        source = auto.get(name)
        if not source:
            continue
        if sc is None:   # a created record has no "before"
            log["conditions"].append({"name": name, "source": source, "value": None,
                                      "note": "no record before the change"})
            continue
        try:
            value = sc.eval(source)
            entry = {"name": name, "source": source, "value": actions.to_json(value)}
        except actions.ActionError as err:
            value, entry = None, {"name": name, "source": source, "value": None, "error": err.message}
        log["conditions"].append(entry)
        if value is not True:
            return False
    return True


# -- run log, replay, dry run, buttons, inbound webhooks ---------------------------------------

def _run_out(row) -> dict:
    return {"id": row["id"], "app": row["app_key"], "automation": row["automation"],
            "trigger_type": row["trigger_type"], "form": row["form_key"], "record": row["record_id"],
            "actor": row["actor"], "depth": row["depth"], "status": row["status"], "dry_run": bool(row["dry_run"]),
            "replay_of": row["replay_of"], "error": row["error"], "created_at": row["created_at"],
            "started_at": row["started_at"], "finished_at": row["finished_at"], "duration_ms": row["duration_ms"],
            "log": json.loads(row["log"]) if row["log"] else None}


def get_run(ff, run_id: str) -> dict:
    with ff.db.read() as conn:
        row = conn.execute(sa.select(runs_t).where(runs_t.c.id == run_id)).mappings().first()
    if row is None:
        raise NotFound(f"no automation run {run_id!r}")
    return _run_out(row)


def list_runs(ff, app_key: str, automation: str | None = None, *, status: str | None = None,
              limit: int = 50) -> list[dict]:
    q = sa.select(runs_t).where(runs_t.c.app_key == app_key)
    if automation:
        q = q.where(runs_t.c.automation == automation)
    if status:
        q = q.where(runs_t.c.status == status)
    with ff.db.read() as conn:
        rows = conn.execute(q.order_by(runs_t.c.created_at.desc(), runs_t.c.id.desc()).limit(limit)).mappings()
        return [_run_out(r) for r in rows]


def replay(ff, run_id: str, actor: str | None = None) -> dict:
    """Queue a new run with the same trigger snapshot (the runner executes it)."""
    old = get_run(ff, run_id)
    with ff.db.read() as conn:
        trigger = json.loads(conn.execute(sa.select(runs_t.c.trigger).where(runs_t.c.id == run_id)).scalar())
    auto = find(ff, old["app"], old["automation"])
    with ff.db.write() as conn:
        new_id = _insert_run(conn, ff, old["app"], auto, trigger, trigger_key=f"replay:{new_run_id()}",
                             depth=old["depth"], replay_of=run_id)
    return get_run(ff, new_id)


def _record_trigger(ff, app_key, form_key, record_id, actor, kind) -> dict:
    record = ff.records.get(app_key, form_key, record_id)
    return {"type": kind, "app": app_key, "form": form_key, "id": record_id, "version": record["_version"],
            "actor": actor, "at": clock.now_iso(ff), "changes": {}}


def _run_now(ff, app_key, auto, trigger, *, dry_run: bool, prefix: str) -> dict:
    with ff.db.write() as conn:
        run_id = _insert_run(conn, ff, app_key, auto, trigger, trigger_key=f"{prefix}:{new_run_id()}",
                             dry_run=dry_run, status="running")
        row = dict(conn.execute(sa.select(runs_t).where(runs_t.c.id == run_id)).mappings().one())
    return _execute(ff, row, dry_run=dry_run)


def dry_run(ff, app_key: str, key: str, *, record_id: str | None = None, payload=None,
            actor: str | None = None) -> dict:
    """Run an automation against a chosen record (or payload) and roll everything back; the log shows
    what would happen."""
    auto = find(ff, app_key, key)
    ttype = auto["trigger"]["type"]
    if ttype in ("webhook", "schedule"):
        trigger = {"type": ttype, "app": app_key, "payload": payload or {}, "actor": actor,
                   "at": clock.now_iso(ff)}
    else:
        if not record_id:
            raise FormflowError("record: choose the record to dry-run the automation against")
        trigger = _record_trigger(ff, app_key, auto["trigger"]["form"], record_id, actor, ttype)
    return _run_now(ff, app_key, auto, trigger, dry_run=True, prefix="dry")


def press_button(ff, app_key: str, form_key: str, record_id: str, key: str, actor: str | None = None) -> dict:
    """Run a button automation on a record now; returns the run."""
    auto = find(ff, app_key, key)
    if auto["trigger"]["type"] != "button" or auto["trigger"].get("form") != form_key:
        raise NotFound(f"{app_key}.{key} is not a button of {form_key}")
    trigger = _record_trigger(ff, app_key, form_key, record_id, actor, "button")
    return _run_now(ff, app_key, auto, trigger, dry_run=False, prefix="button")


def create_hook_token(ff, app_key: str, key: str, actor: str | None = None) -> str:
    """A new secret token for an inbound webhook automation (shown once; only its hash is kept)."""
    auto = find(ff, app_key, key)
    if auto["trigger"]["type"] != "webhook":
        raise FormflowError(f"{app_key}.{key} is not started by an inbound webhook")
    token = "hk_" + secrets.token_urlsafe(32)
    with ff.db.write() as conn:
        conn.execute(wt.inbound_hooks.insert().values(
            token_hash=hashlib.sha256(token.encode()).hexdigest(), app_key=app_key, automation=key,
            created_by=actor, created_at=clock.now_iso(ff)))
    return token


def receive_webhook(ff, token: str, payload) -> str:
    """Queue the run of the automation a token belongs to, with `$payload`; returns the run id."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    with ff.db.write() as conn:
        found = conn.execute(sa.select(wt.inbound_hooks).where(wt.inbound_hooks.c.token_hash == digest)).mappings().first()
        if found is None:
            raise NotFound("unknown webhook token")
        auto = find(ff, found["app_key"], found["automation"], conn)
        trigger = {"type": "webhook", "app": found["app_key"], "payload": payload, "at": clock.now_iso(ff)}
        return _insert_run(conn, ff, found["app_key"], auto, trigger, trigger_key=f"hook:{new_run_id()}")
