"""The directory: departments (a tree), roles and who belongs to them.

A user can be in several departments, one of which is their primary one; each
department may have a manager (a user). Roles are instance-wide keys ("sales",
"finance"); an app's definition declares the roles it uses in its `roles` section
and its permission sets name them (see engine/permission_model.py).

Every change goes through the functions here (the API in engine/api_permissions.py
and the `formflow dept` / `formflow role` commands call them) and leaves one audit
entry (`actor`/`ip` name the caller).

`profile(conn, user_id)` is what the permission service reads: the user's roles,
departments, primary department, the departments they are in through the tree
(ancestors, used to match permission sets), below (`subdepartments`) and manage.
"""
from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from . import tables
from .errors import Conflict, FormflowError, NotFound

departments = sa.Table(
    "ff_departments", tables.metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("parent_id", sa.String(128), sa.ForeignKey("ff_departments.id")),
    sa.Column("manager_id", sa.String(40), sa.ForeignKey("ff_users.id", ondelete="SET NULL")),
    sa.Column("created_at", tables.Timestamp, nullable=False),
    sa.Index("ix_ff_departments_parent", "parent_id"),
)

department_members = sa.Table(
    "ff_department_members", tables.metadata,
    sa.Column("department_id", sa.String(128), sa.ForeignKey("ff_departments.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("ff_users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("is_primary", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_ff_department_members_user", "user_id"),
)

roles = sa.Table(
    "ff_roles", tables.metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("created_at", tables.Timestamp, nullable=False),
)

role_members = sa.Table(
    "ff_role_members", tables.metadata,
    sa.Column("role_key", sa.String(64), sa.ForeignKey("ff_roles.key", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("ff_users.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_ff_role_members_user", "user_id"),
)

#: department ids are what `department` fields store (see field_types._ID_PATTERN)
_DEPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$")
#: role keys follow the definition's key rule (a letter, then word characters)
_ROLE_KEY = re.compile(r"^[^\W\d]\w{0,62}$")
_UNSET: Any = object()


def _now():
    from .records import now_iso
    return now_iso()


def _audit(conn, action, actor, ip, object_type, object_id, details):
    # Every directory write passes here, in its own transaction: the generation rises with it,
    # so no process keeps using a profile the change made stale (see cached_profile).
    from . import audit
    audit.record(None, action, actor=actor, ip=ip, object_type=object_type, object_id=object_id,
                 details=details, conn=conn)
    _bump_generation(conn)


def _bump_generation(conn) -> None:
    c = tables.counters
    if conn.execute(c.update().where(c.c.name == "directory").values(value=c.c.value + 1)).rowcount == 0:
        conn.execute(c.insert().values(name="directory", value=1))


def generation(conn) -> int:
    """The directory's generation number (0 before its first change)."""
    value = conn.exec_driver_sql("SELECT value FROM ff_counters WHERE name = 'directory'").scalar()
    return int(value or 0)


def cached_profile(ff, conn, user_id: str) -> dict:
    """profile() of a user, kept per process until the directory's generation moves.

    A profile costs five queries (every department, memberships, roles, descendants); a
    request needs it for each permission decision. The generation check is one query.
    """
    gen = generation(conn)
    cache = ff._directory_profiles
    hit = cache.get(user_id)
    if hit is not None and hit[0] == gen:
        return hit[1]
    facts = profile(conn, user_id)
    if len(cache) > 10_000:
        cache.clear()
    cache[user_id] = (gen, facts)
    return facts


def _user_exists(conn, user_id) -> None:
    if user_id is None:
        return
    if conn.execute(sa.select(tables.users.c.id).where(tables.users.c.id == str(user_id))).first() is None:
        raise NotFound(f"no user {user_id!r}")


def _dept_row(conn, dept_id) -> dict:
    row = conn.execute(sa.select(departments).where(departments.c.id == str(dept_id))).mappings().first()
    if row is None:
        raise NotFound(f"no department {dept_id!r}")
    return dict(row)


# ------------------------------------------------------------------ departments

def add_department(ff, name: str, *, id: str | None = None, parent: str | None = None,
                   manager: str | None = None, actor: str | None = None, ip: str | None = None) -> dict:
    """Create a department (under `parent`, with a manager user id); returns it."""
    from .records import new_id
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise FormflowError("a department needs a name of 1-200 characters")
    dept_id = id or new_id()
    if not isinstance(dept_id, str) or not _DEPT_ID.match(dept_id):
        raise FormflowError(f"{dept_id!r} is not a valid department id (letters, digits, _ . @ : -)")
    with ff.db.write() as conn:
        if conn.execute(sa.select(departments.c.id).where(departments.c.id == dept_id)).first():
            raise Conflict(f"a department with id {dept_id!r} already exists")
        if parent is not None:
            _dept_row(conn, parent)
        _user_exists(conn, manager)
        row = {"id": dept_id, "name": name, "parent_id": parent, "manager_id": manager, "created_at": _now()}
        conn.execute(departments.insert().values(**row))
        _audit(conn, "department.created", actor, ip, "department", dept_id,
               {"name": name, "parent": parent, "manager": manager})
    return row


def update_department(ff, dept_id: str, *, name: str | None = None, parent: Any = _UNSET,
                      manager: Any = _UNSET, actor: str | None = None, ip: str | None = None) -> dict:
    """Rename, move (parent=None: to the top) or change the manager (None: no manager)."""
    with ff.db.write() as conn:
        row = _dept_row(conn, dept_id)
        values: dict = {}
        if name is not None:
            if not isinstance(name, str) or not name.strip() or len(name) > 200:
                raise FormflowError("a department needs a name of 1-200 characters")
            values["name"] = name.strip()
        if parent is not _UNSET:
            if parent is not None:
                _dept_row(conn, parent)
                if parent == dept_id or parent in _descendants(conn, [dept_id]):
                    raise Conflict(f"department {dept_id!r} cannot move below itself")
            values["parent_id"] = parent
        if manager is not _UNSET:
            _user_exists(conn, manager)
            values["manager_id"] = manager
        if values:
            conn.execute(departments.update().where(departments.c.id == dept_id).values(**values))
            _audit(conn, "department.updated", actor, ip, "department", dept_id, values)
        row.update(values)
    return row


def remove_department(ff, dept_id: str, *, actor: str | None = None, ip: str | None = None) -> None:
    """Delete a department without sub-departments (its memberships go with it)."""
    with ff.db.write() as conn:
        _dept_row(conn, dept_id)
        if conn.execute(sa.select(departments.c.id).where(departments.c.parent_id == dept_id)).first():
            raise Conflict(f"department {dept_id!r} has sub-departments: move or remove them first")
        conn.execute(department_members.delete().where(department_members.c.department_id == dept_id))
        conn.execute(departments.delete().where(departments.c.id == dept_id))
        _audit(conn, "department.removed", actor, ip, "department", dept_id, {})


def get_department(ff, dept_id: str) -> dict:
    """A department with its members ([{user_id, is_primary}])."""
    with ff.db.read() as conn:
        row = _dept_row(conn, dept_id)
        row["members"] = [dict(r) for r in conn.execute(
            sa.select(department_members.c.user_id, department_members.c.is_primary)
            .where(department_members.c.department_id == dept_id)
            .order_by(department_members.c.user_id)).mappings()]
    return row


def list_departments(ff) -> list[dict]:
    """Every department (flat, by name), each with its parent_id and manager_id."""
    with ff.db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(departments).order_by(departments.c.name,
                                                                               departments.c.id)).mappings()]


def department_tree(ff) -> list[dict]:
    """The departments as a tree: [{id, name, manager_id, children: [...]}], roots first."""
    flat = list_departments(ff)
    nodes = {d["id"]: {**d, "children": []} for d in flat}
    roots = []
    for d in flat:
        parent = nodes.get(d["parent_id"]) if d["parent_id"] else None
        (parent["children"] if parent else roots).append(nodes[d["id"]])
    return roots


def add_member(ff, dept_id: str, user_id: str, *, primary: bool = False, actor: str | None = None,
               ip: str | None = None) -> None:
    """Put a user in a department (idempotent); primary=True makes it their primary one.

    A user's first department becomes primary automatically.
    """
    with ff.db.write() as conn:
        _dept_row(conn, dept_id)
        _user_exists(conn, user_id)
        mine = conn.execute(sa.select(department_members.c.department_id, department_members.c.is_primary)
                            .where(department_members.c.user_id == user_id)).all()
        primary = primary or not any(p for _, p in mine)
        if primary:
            conn.execute(department_members.update().where(department_members.c.user_id == user_id)
                         .values(is_primary=False))
        if any(d == dept_id for d, _ in mine):
            if primary:
                conn.execute(department_members.update().where(
                    department_members.c.user_id == user_id,
                    department_members.c.department_id == dept_id).values(is_primary=True))
        else:
            conn.execute(department_members.insert().values(department_id=dept_id, user_id=user_id,
                                                            is_primary=primary))
        _audit(conn, "department.member_added", actor, ip, "department", dept_id,
               {"user": user_id, "primary": primary})


def remove_member(ff, dept_id: str, user_id: str, *, actor: str | None = None, ip: str | None = None) -> None:
    """Take a user out of a department (another of theirs becomes primary if needed)."""
    with ff.db.write() as conn:
        row = conn.execute(sa.select(department_members).where(
            department_members.c.department_id == dept_id,
            department_members.c.user_id == user_id)).mappings().first()
        if row is None:
            raise NotFound(f"user {user_id!r} is not in department {dept_id!r}")
        conn.execute(department_members.delete().where(department_members.c.department_id == dept_id,
                                                       department_members.c.user_id == user_id))
        if row["is_primary"]:
            other = conn.execute(sa.select(department_members.c.department_id).where(
                department_members.c.user_id == user_id).order_by(department_members.c.department_id)).scalar()
            if other is not None:
                conn.execute(department_members.update().where(
                    department_members.c.user_id == user_id,
                    department_members.c.department_id == other).values(is_primary=True))
        _audit(conn, "department.member_removed", actor, ip, "department", dept_id, {"user": user_id})


def user_departments(ff, user_id: str) -> list[dict]:
    """The departments a user is directly in: [{id, name, is_primary}], primary first."""
    with ff.db.read() as conn:
        rows = conn.execute(sa.select(departments.c.id, departments.c.name, department_members.c.is_primary)
                            .join(department_members, department_members.c.department_id == departments.c.id)
                            .where(department_members.c.user_id == user_id)).mappings().all()
    return sorted((dict(r) for r in rows), key=lambda r: (not r["is_primary"], r["name"]))


# ------------------------------------------------------------------------ roles

def add_role(ff, key: str, name: str | None = None, *, description: str | None = None,
             actor: str | None = None, ip: str | None = None) -> dict:
    """Create a role (key as in app definitions' `roles` sections); returns it."""
    if not isinstance(key, str) or not _ROLE_KEY.match(key):
        raise FormflowError(f"{key!r} is not a valid role key (a letter, then letters, digits or _)")
    row = {"key": key, "name": (name or key).strip()[:200], "description": description, "created_at": _now()}
    with ff.db.write() as conn:
        if conn.execute(sa.select(roles.c.key).where(roles.c.key == key)).first():
            raise Conflict(f"a role {key!r} already exists")
        conn.execute(roles.insert().values(**row))
        _audit(conn, "role.created", actor, ip, "role", key, {"name": row["name"]})
    return row


def remove_role(ff, key: str, *, actor: str | None = None, ip: str | None = None) -> None:
    """Delete a role and every grant of it."""
    with ff.db.write() as conn:
        if conn.execute(sa.select(roles.c.key).where(roles.c.key == key)).first() is None:
            raise NotFound(f"no role {key!r}")
        conn.execute(role_members.delete().where(role_members.c.role_key == key))
        conn.execute(roles.delete().where(roles.c.key == key))
        _audit(conn, "role.removed", actor, ip, "role", key, {})


def list_roles(ff) -> list[dict]:
    """Every role with its members' user ids."""
    with ff.db.read() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(roles).order_by(roles.c.key)).mappings()]
        grants = conn.execute(sa.select(role_members).order_by(role_members.c.user_id)).all()
    for r in rows:
        r["members"] = [u for k, u in grants if k == r["key"]]
    return rows


def grant_role(ff, key: str, user_id: str, *, actor: str | None = None, ip: str | None = None) -> None:
    """Give a user a role (idempotent)."""
    with ff.db.write() as conn:
        if conn.execute(sa.select(roles.c.key).where(roles.c.key == key)).first() is None:
            raise NotFound(f"no role {key!r}")
        _user_exists(conn, user_id)
        if conn.execute(sa.select(role_members.c.user_id).where(role_members.c.role_key == key,
                                                                role_members.c.user_id == user_id)).first():
            return
        conn.execute(role_members.insert().values(role_key=key, user_id=user_id))
        _audit(conn, "role.granted", actor, ip, "role", key, {"user": user_id})


def revoke_role(ff, key: str, user_id: str, *, actor: str | None = None, ip: str | None = None) -> None:
    """Take a role from a user."""
    with ff.db.write() as conn:
        result = conn.execute(role_members.delete().where(role_members.c.role_key == key,
                                                          role_members.c.user_id == user_id))
        if result.rowcount == 0:
            raise NotFound(f"user {user_id!r} does not hold role {key!r}")
        _audit(conn, "role.revoked", actor, ip, "role", key, {"user": user_id})


# --------------------------------------------------------- what permissions read

def _all_departments(conn) -> dict[str, dict]:
    return {r["id"]: dict(r) for r in conn.execute(sa.select(departments)).mappings()}


def _descendants(conn, ids, depts: dict | None = None) -> set[str]:
    depts = depts if depts is not None else _all_departments(conn)
    children: dict[str, list[str]] = {}
    for d in depts.values():
        if d["parent_id"]:
            children.setdefault(d["parent_id"], []).append(d["id"])
    out: set[str] = set()
    stack = list(ids)
    while stack:
        for c in children.get(stack.pop(), ()):
            if c not in out:
                out.add(c)
                stack.append(c)
    return out


def _ancestors(ids, depts: dict) -> set[str]:
    out: set[str] = set()
    for d in ids:
        seen = 0
        parent = depts.get(d, {}).get("parent_id")
        while parent and parent not in out and seen < 1000:
            out.add(parent)
            parent = depts.get(parent, {}).get("parent_id")
            seen += 1
    return out


def profile(conn, user_id: str) -> dict:
    """The directory facts of a user, as lists sorted for stable output.

    roles; departments (direct memberships); primary_department; within (direct
    plus every ancestor: a member of "sales/east" is within "sales");
    subdepartments (direct plus every descendant); managed_departments
    (departments the user manages plus their descendants).
    """
    depts = _all_departments(conn)
    mine = conn.execute(sa.select(department_members.c.department_id, department_members.c.is_primary)
                        .where(department_members.c.user_id == user_id)).all()
    direct = sorted(d for d, _ in mine)
    primary = next((d for d, p in mine if p), direct[0] if direct else None)
    managed = sorted(d["id"] for d in depts.values() if d["manager_id"] == user_id)
    role_keys = sorted(r for (r,) in conn.execute(sa.select(role_members.c.role_key)
                                                  .where(role_members.c.user_id == user_id)))
    return {"roles": role_keys, "departments": direct, "primary_department": primary,
            "within": sorted(set(direct) | _ancestors(direct, depts)),
            "subdepartments": sorted(set(direct) | _descendants(conn, direct, depts)),
            "managed_departments": sorted(set(managed) | _descendants(conn, managed, depts))}
