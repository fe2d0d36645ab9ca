"""HTTP endpoints of the permission engine: directory, audit search, access review, view-as.

A Flask Blueprint named "permissions", to be mounted at /api/v1:

    GET    /departments[?tree=1]                     PUT    /departments/<id>/members/<user>  {"primary"}
    POST   /departments {name, id?, parent?, manager?} DELETE /departments/<id>/members/<user>
    GET    /departments/<id>                        PATCH  /departments/<id> {name?, parent?, manager?}
    DELETE /departments/<id>
    GET    /roles                                   POST   /roles {key, name?, description?}
    DELETE /roles/<key>                             PUT/DELETE /roles/<key>/members/<user>
    GET    /users/<user>/directory                  (roles and departments of a user)
    GET    /audit?actor=&object=&action=&since=&until=&app=&limit=&cursor=   (read-only)
    GET    /access-review?days=N
    GET    /apps/<app>/forms/<form>/access?as=<user>[&record=<id>][&field=<key>][&filter=&sort=&limit=&cursor=]

<user> is a user id or user name. Every endpoint needs an administrator — signed in,
or through an administrator's API key (`access.can(principal, "admin")`; a key limited
to some apps, or a read-only key for the writes, is refused). The blueprint runs the
REST API's request pipeline (engine.api: sign-in or Bearer key, CSRF for
cookie-authenticated writes, Idempotency-Key on POST) and is documented in the static
OpenAPI document. The audit log has no route that changes entries (and its table
refuses UPDATE and DELETE).
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify, request

from . import access, access_review, audit, directory, permissions, tables
from .api import _authenticate, _release, _remember, principal
from .auth import csrf
from .errors import FormflowError, NotFound

permissions_api = Blueprint("permissions", __name__)
csrf.exempt(permissions_api)              # the pipeline checks CSRF for cookie writes itself
permissions_api.before_request(_authenticate)
permissions_api.after_request(_remember)
permissions_api.teardown_request(_release)


class Unauthorized(FormflowError):
    status = 401
    title = "Unauthorized"


def _ff():
    from flask import current_app
    return current_app.extensions["formflow"]


def _admin() -> str:
    """The calling administrator's id (session or API key); 401 without credentials, 403 otherwise."""
    who = principal()
    if who is None:
        raise Unauthorized("sign in, or send an API key as 'Authorization: Bearer <key>'")
    if not access.can(who, access.ADMIN):
        raise permissions.Forbidden("only administrators may use this endpoint"
                                    + (" (with a read-write API key valid for every app)" if who.via == "key"
                                       else ""))
    return who.id


def _who() -> dict:
    return {"actor": _admin(), "ip": request.remote_addr}


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise FormflowError("the request body must be a JSON object")
    return data


def _user_id(ref: str) -> str:
    """A user id from an id or a user name; NotFound otherwise."""
    if not isinstance(ref, str):
        raise FormflowError("expected a user id or user name",
                            [{"location": "user", "message": "expected a string", "code": "type"}])
    ff = _ff()
    u = tables.users.c
    with ff.db.read() as conn:
        found = conn.execute(sa.select(u.id).where(sa.or_(u.id == ref, sa.func.lower(u.username) == ref.lower()))
                             .order_by((u.id == ref).desc())).scalar()
    if found is None:
        raise NotFound(f"no user {ref!r}")
    return found


# --------------------------------------------------------------------- directory

@permissions_api.get("/departments")
def departments_list():
    _admin()
    ff = _ff()
    if request.args.get("tree") in ("1", "true"):
        return jsonify({"departments": directory.department_tree(ff)})
    return jsonify({"departments": directory.list_departments(ff)})


@permissions_api.post("/departments")
def departments_create():
    who, b = _who(), _body()
    manager = _user_id(b["manager"]) if b.get("manager") else None
    dept = directory.add_department(_ff(), b.get("name"), id=b.get("id"), parent=b.get("parent"),
                                    manager=manager, **who)
    return jsonify(dept), 201


@permissions_api.get("/departments/<dept_id>")
def departments_get(dept_id):
    _admin()
    return jsonify(directory.get_department(_ff(), dept_id))


@permissions_api.patch("/departments/<dept_id>")
def departments_update(dept_id):
    who, b = _who(), _body()
    kwargs = {}
    if "parent" in b:
        kwargs["parent"] = b["parent"]
    if "manager" in b:
        kwargs["manager"] = _user_id(b["manager"]) if b["manager"] else None
    return jsonify(directory.update_department(_ff(), dept_id, name=b.get("name"), **kwargs, **who))


@permissions_api.delete("/departments/<dept_id>")
def departments_delete(dept_id):
    directory.remove_department(_ff(), dept_id, **_who())
    return "", 204


@permissions_api.put("/departments/<dept_id>/members/<user>")
def departments_add_member(dept_id, user):
    who = _who()
    b = request.get_json(silent=True) or {}
    directory.add_member(_ff(), dept_id, _user_id(user), primary=bool(b.get("primary")), **who)
    return jsonify(directory.get_department(_ff(), dept_id))


@permissions_api.delete("/departments/<dept_id>/members/<user>")
def departments_remove_member(dept_id, user):
    directory.remove_member(_ff(), dept_id, _user_id(user), **_who())
    return "", 204


@permissions_api.get("/roles")
def roles_list():
    _admin()
    return jsonify({"roles": directory.list_roles(_ff())})


@permissions_api.post("/roles")
def roles_create():
    who, b = _who(), _body()
    return jsonify(directory.add_role(_ff(), b.get("key"), b.get("name"), description=b.get("description"),
                                      **who)), 201


@permissions_api.delete("/roles/<key>")
def roles_delete(key):
    directory.remove_role(_ff(), key, **_who())
    return "", 204


@permissions_api.put("/roles/<key>/members/<user>")
def roles_grant(key, user):
    directory.grant_role(_ff(), key, _user_id(user), **_who())
    return "", 204


@permissions_api.delete("/roles/<key>/members/<user>")
def roles_revoke(key, user):
    directory.revoke_role(_ff(), key, _user_id(user), **_who())
    return "", 204


@permissions_api.get("/users/<user>/directory")
def user_directory(user):
    _admin()
    ff = _ff()
    uid = _user_id(user)
    with ff.db.read() as conn:
        facts = directory.profile(conn, uid)
    return jsonify({"user_id": uid, **facts})


# ------------------------------------------------------------------------- audit

@permissions_api.get("/audit")
def audit_search():
    _admin()
    a = request.args
    try:
        limit = int(a.get("limit", 100))
    except ValueError:
        raise FormflowError("limit: must be a whole number") from None
    return jsonify(audit.search(_ff(), actor=a.get("actor"), object=a.get("object"), action=a.get("action"),
                                since=a.get("since"), until=a.get("until"), app=a.get("app"), limit=limit,
                                cursor=a.get("cursor")))


# ------------------------------------------------------------------ access review

@permissions_api.get("/access-review")
def access_review_report():
    _admin()
    try:
        days = int(request.args.get("days", 90))
    except ValueError:
        raise FormflowError("days: must be a whole number") from None
    if days < 0:
        raise FormflowError("days: must be at least 0")
    return jsonify(access_review.report(_ff(), days))


# ----------------------------------------------------------------------- view as

@permissions_api.get("/apps/<app>/forms/<form>/access")
def access_view_as(app, form):
    who = _who()
    ff = _ff()
    a = request.args
    uid = _user_id(a["as"]) if a.get("as") else who["actor"]
    fa = permissions.view_as(ff, uid, app, form)
    body = {"user": {"id": fa.subject.id, "username": fa.subject.username, "admin": fa.admin,
                     "roles": sorted(fa.subject.roles), "departments": list(fa.subject.departments)},
            "actions": sorted(fa.actions),
            "fields": {f.key: {"right": fa.rights[f.key], "masked": fa.rights[f.key] != "hidden"
                               and fa.is_masked(f.key)} for f in fa.form.fields}}
    record = None
    if a.get("record"):
        record = ff.records.get(app, form, a["record"], include_deleted=True)
    if record is not None or a.get("field"):
        body["explain"] = fa.explain(record=record, field=a.get("field"))
    if record is None and fa.can("read"):
        try:
            limit = int(a.get("limit", 50))
        except ValueError:
            raise FormflowError("limit: must be a whole number") from None
        with ff.db.read() as conn:
            page = fa.list_records(conn, filter=a.get("filter"), sort=a.get("sort"), limit=limit,
                                   cursor=a.get("cursor"))
            body["count"] = fa.count_records(conn, filter=a.get("filter"))
        body["records"], body["next_cursor"] = page.records, page.next_cursor
    audit.record(ff, "access.viewed_as", object_type="user", object_id=uid, app=app, form=form,
                 details={"record": a.get("record"), "field": a.get("field")}, **who)
    return jsonify(body)


# ------------------------------------------------------------------------- OpenAPI

def _document_paths() -> None:
    """Advertise these routes in the static OpenAPI document (engine.openapi)."""
    from . import openapi as oa
    obj = {"type": "object", "additionalProperties": True}
    tag = "permissions"
    dept, user, role = (oa._path_param("dept_id", {"type": "string"}), oa._path_param("user", {"type": "string"}),
                        oa._path_param("key", {"type": "string"}))
    q = lambda name, schema, desc="": {"name": name, "in": "query", "schema": schema,  # noqa: E731
                                       **({"description": desc} if desc else {})}
    s_ = {"type": "string"}
    ok = lambda d, st=200: oa._resp(d, obj, st)  # noqa: E731
    gone = {"204": {"description": "Done"}}
    oa.register_paths({
        "/departments": {
            "get": oa._op("Departments (admins); ?tree=1 nests them", ok("Departments"),
                          params=[q("tree", {"type": "boolean"})], tag=tag),
            "post": oa._post("Create a department {name, id?, parent?, manager?} (admins)", ok("Created", 201),
                             body=obj, tag=tag)},
        "/departments/{dept_id}": {
            "get": oa._op("A department with its members (admins)", ok("The department"), params=[dept], tag=tag),
            "patch": oa._op("Rename, move or change the manager of a department (admins)", ok("The department"),
                            params=[dept], body=obj, tag=tag),
            "delete": oa._op("Remove a department (admins)", gone, params=[dept], tag=tag)},
        "/departments/{dept_id}/members/{user}": {
            "put": oa._op("Add a member {primary?} (admins)", ok("The department"), params=[dept, user],
                          tag=tag),
            "delete": oa._op("Remove a member (admins)", gone, params=[dept, user], tag=tag)},
        "/roles": {
            "get": oa._op("Roles (admins)", ok("Roles"), tag=tag),
            "post": oa._post("Create a role {key, name?, description?} (admins)", ok("Created", 201), body=obj,
                             tag=tag)},
        "/roles/{key}": {"delete": oa._op("Remove a role (admins)", gone, params=[role], tag=tag)},
        "/roles/{key}/members/{user}": {
            "put": oa._op("Grant a role (admins)", gone, params=[role, user], tag=tag),
            "delete": oa._op("Revoke a role (admins)", gone, params=[role, user], tag=tag)},
        "/users/{user}/directory": {"get": oa._op("A user's roles and departments (admins)", ok("Directory facts"),
                                                  params=[user], tag=tag)},
        "/audit": {"get": oa._op(
            "Search the append-only audit log, newest first (admins; entries cannot be changed)",
            ok("{entries, next_cursor}"),
            params=[q("actor", s_, "User id"), q("object", s_, "type or type:id, e.g. record:01H…"),
                    q("action", s_, "An action, or a prefix ending in '.' (record.)"),
                    q("since", s_, "ISO time (inclusive)"), q("until", s_, "ISO time (exclusive)"),
                    q("app", s_), q("limit", {"type": "integer", "minimum": 1, "maximum": audit.MAX_LIMIT}),
                    oa.Q["cursor"]], tag=tag)},
        "/access-review": {"get": oa._op(
            "Inactive accounts, disabled users with API keys, who sees each sensitive field (admins)",
            ok("The report"), params=[q("days", {"type": "integer", "minimum": 0})], tag=tag)},
        "/apps/{app}/forms/{form}/access": {"get": oa._op(
            "View a form as a user would, and explain why (admins)", ok("Rights, records and explanations"),
            params=[oa._path_param("app", s_), oa._path_param("form", s_), q("as", s_, "User id or name"),
                    q("record", s_), q("field", s_), oa.Q["filter"], oa.Q["sort"], oa.Q["limit"], oa.Q["cursor"]],
            tag=tag)},
    })


_document_paths()
