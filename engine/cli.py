"""The `formflow` command line (click). User errors print one line and exit non-zero."""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from . import defaults
from .errors import FormflowError


def _fail(message: str, code: int = 1):
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def friendly(fn):
    """Turn engine errors into one clear line (per located problem) and exit status 1."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FormflowError as err:
            lines = err.lines()
            if len(lines) == 1:
                _fail(lines[0])
            click.echo(f"Error: {err.message}", err=True)
            for line in lines:
                click.echo(f"  {line}", err=True)
            sys.exit(1)
        except OSError as err:
            _fail(f"{err.strerror or err}: {getattr(err, 'filename', '') or ''}".rstrip(": "))
    return wrapper


def _instance():
    from .formflow import Formflow
    ff = Formflow()
    ff.init_db()
    return ff


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    p = Path(path)
    if not p.exists():
        raise FormflowError(f"{path}: no such file")
    if p.stat().st_size > defaults.MAX_DEFINITION_BYTES:
        raise FormflowError(f"{path}: larger than {defaults.MAX_DEFINITION_BYTES} bytes")
    return p.read_text(encoding="utf-8")


@click.group()
@click.version_option(package_name="formflow")
def main():
    """formflow: low-code forms and workflows (configured by FORMFLOW_* variables)."""


@main.command()
@friendly
def init():
    """Create the data folder and the database, and an admin account if there is none."""
    ff = _instance()
    created = _ensure_admin(ff)
    click.echo(f"Database ready: {ff.db.url}")
    if created:
        click.echo(f"Admin account: {created[0]} / {created[1]}")


@main.command()
@click.option("--host", default=defaults.HOST, show_default=True)
@click.option("--port", default=defaults.PORT, show_default=True, type=int)
@click.option("--workers", type=int, default=None, help="Serve with gunicorn and N worker processes.")
@friendly
def serve(host, port, workers):
    """Start the web server (and the in-process job runner on the embedded default)."""
    ff = _instance()
    created = _ensure_admin(ff)
    url = f"http://{host}:{port}/"
    click.echo(f"formflow is running at {url}")
    if created:
        click.echo(f"Sign in as {created[0]} with password {created[1]}")
        click.echo(f"(also saved in {ff.config.data_dir / 'initial-admin.txt'}; change it after signing in)")
    else:
        click.echo("Sign in with your account (the first admin's password is in the data folder's "
                   "initial-admin.txt, if it was generated here)")
    sys.stdout.flush()
    if workers:
        _gunicorn(host, port, workers)
    else:
        from .web import create_app
        app = create_app(ff, start_runner=True)
        app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


def _gunicorn(host, port, workers):
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}",
                               "--workers", str(workers), "--access-logfile", "-",
                               "engine.web:create_app()"])


def _ensure_admin(ff):
    """Create `admin` with a random password when no user exists; returns (name, password) or None."""
    from . import tables, users
    import sqlalchemy as sa
    with ff.db.read() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(tables.users)).scalar():
            return None
    password = users.generate_password()
    users.add_user(ff, "admin", password, admin=True, display_name="Administrator")
    note = ff.config.data_dir / "initial-admin.txt"
    try:
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(f"admin\n{password}\n", encoding="utf-8")
        note.chmod(0o600)
    except OSError:
        pass
    return "admin", password


@main.group()
def app():
    """Validate, install, export and compare app definitions."""


@app.command("validate")
@click.argument("path")
@friendly
def app_validate(path):
    """Check an app definition file and report every problem."""
    from .definition import load_definition
    defn = load_definition(_read(path))
    forms = defn.get("forms", [])
    click.echo(f"{path}: valid app {defn['key']!r} with {len(forms)} form(s) and "
               f"{sum(len(f.get('fields', [])) for f in forms)} field(s)")


@app.command("install")
@click.argument("path")
@click.option("--dry-run", is_flag=True, help="Print the migration plan without applying it.")
@friendly
def app_install(path, dry_run):
    """Install an app definition, or apply it as a new version of an installed app."""
    ff = _instance()
    result = ff.apps.install(_read(path), dry_run=dry_run)
    _print_plan(result)
    if not dry_run:
        click.echo(f"Installed {result['app']!r} version {result['version']}")


@app.command("diff")
@click.argument("path")
@friendly
def app_diff(path):
    """Print what installing PATH would change (same as install --dry-run)."""
    ff = _instance()
    _print_plan(ff.apps.install(_read(path), dry_run=True))


@app.command("export")
@click.argument("key")
@friendly
def app_export(key):
    """Print the installed definition of app KEY (canonical JSON)."""
    ff = _instance()
    click.echo(ff.apps.export(key), nl=False)


@app.command("list")
@friendly
def app_list():
    """List installed apps."""
    ff = _instance()
    for key, application in sorted(ff.installed().items()):
        click.echo(f"{key}\tversion {application.version}\t{len(application.forms)} form(s)")


@app.command("uninstall")
@click.argument("key")
@click.option("--force", is_flag=True, help="Also delete the app's records (final).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@friendly
def app_uninstall(key, force, yes):
    """Remove app KEY (refused while it holds records, unless --force)."""
    if not yes:
        click.confirm(f"Uninstall app {key!r}" + (" and delete its records" if force else "") + "?", abort=True)
    ff = _instance()
    result = ff.apps.uninstall(key, force=force)
    click.echo(f"Uninstalled {key!r}: {result['forms']} form(s), {result['records']} record(s) deleted")


@app.command("restore-field")
@click.argument("key")
@click.argument("field_id")
@friendly
def app_restore_field(key, field_id):
    """Bring a deleted field (and its data) back into app KEY."""
    ff = _instance()
    result = ff.apps.restore_field(key, field_id)
    click.echo(f"Restored field {field_id} as {result['field']!r}; app {key!r} is at version {result['version']}")


@app.command("purge-field")
@click.argument("key")
@click.argument("field_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@friendly
def app_purge_field(key, field_id, yes):
    """Erase a deleted field's data for good."""
    if not yes:
        click.confirm(f"Erase every value of deleted field {field_id} in app {key!r}?", abort=True)
    ff = _instance()
    n = ff.apps.purge_field(key, field_id)
    click.echo(f"Erased field {field_id} from {n} record(s)")


def _print_plan(result):
    plan = result.get("plan", [])
    if not plan:
        click.echo("No changes.")
        return
    click.echo(f"Plan for {result['app']!r} (version {result.get('from_version') or 0} -> {result['version']}):")
    for step in plan:
        click.echo(f"  - {step['summary']}")
        report = step.get("report")
        if report:
            click.echo(f"      {report['converted']} value(s) convert, {report['failed']} do not "
                       f"(kept in _legacy)")
            for sample in report.get("samples", []):
                click.echo(f"      e.g. record {sample['record']}: {json.dumps(sample['value'], ensure_ascii=False)}"
                           f" -> {sample['error']}")


@main.group()
def user():
    """Manage user accounts."""


@user.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--display-name", default=None)
@click.option("--email", default=None)
@friendly
def user_add(name, admin, password_stdin, display_name, email):
    """Create a user; without --password-stdin a random password is generated and printed."""
    from . import users
    ff = _instance()
    generated = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = generated = users.generate_password()
    created = users.add_user(ff, name, password, admin=admin, display_name=display_name, email=email)
    click.echo(f"Created user {created['username']!r}" + (" (admin)" if admin else ""))
    if generated:
        click.echo(f"Password: {generated}")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@friendly
def user_passwd(name, password_stdin):
    """Set a user's password (signs the user out everywhere); without --password-stdin it is generated."""
    from . import users
    ff = _instance()
    row = users.get_user(ff, name)
    generated = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = generated = users.generate_password()
    users.set_password(ff, row["id"], password)
    click.echo(f"Password of {row['username']!r} changed")
    if generated:
        click.echo(f"Password: {generated}")


@main.group()
def key():
    """Manage API keys."""


@key.command("create")
@click.argument("username")
@click.option("--app", "apps", multiple=True, help="Limit the key to this app (repeatable; default: every app).")
@click.option("--write", is_flag=True, help="Allow writes (default: read only).")
@click.option("--name", default=None, help="A name to tell the key apart.")
@friendly
def key_create(username, apps, write, name):
    """Create an API key for USERNAME and print the key alone (it is not shown again)."""
    from . import api_keys, users
    ff = _instance()
    row = users.get_user(ff, username)
    created = api_keys.create_key(ff, row["id"], name=name, apps=list(apps) or None, write=write)
    click.echo(created["key"])


@key.command("list")
@click.argument("username", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def key_list(username, as_json):
    """List API keys (of USERNAME, or all), never the keys themselves."""
    from . import api_keys, users
    ff = _instance()
    user_id = users.get_user(ff, username)["id"] if username else None
    keys = api_keys.list_keys(ff, user_id)
    if as_json:
        click.echo(json.dumps(keys, ensure_ascii=False))
        return
    for k in keys:
        scope = ",".join(k["apps"]) if k["apps"] is not None else "all apps"
        state = "revoked" if k["revoked_at"] else ("read-write" if k["write"] else "read-only")
        click.echo(f"{k['id']}\t{k['prefix']}...\t{k['name']}\t{scope}\t{state}\tlast used {k['last_used_at'] or 'never'}")


@key.command("revoke")
@click.argument("key_id")
@friendly
def key_revoke(key_id):
    """Revoke the API key KEY_ID (see `formflow key list`)."""
    from . import api_keys
    ff = _instance()
    api_keys.revoke_key(ff, key_id)
    click.echo(f"Revoked {key_id}")


@main.group()
def db():
    """Database maintenance."""


@db.command("upgrade")
@friendly
def db_upgrade():
    """Create or upgrade the engine's own tables to the newest revision."""
    from .formflow import Formflow
    from .migrations_db import current
    ff = Formflow()
    ff.init_db()
    click.echo(f"Database {ff.db.url} is at revision {current(ff.db.engine)}")


@main.command()
@click.option("--queue", "queues", multiple=True, help="Queue to serve (repeatable; default: all formflow queues).")
@click.option("--burst", is_flag=True, help="Run what is due, then exit.")
@friendly
def worker(queues, burst):
    """Run a background worker: RQ jobs, the outbox relay and scheduled triggers."""
    from workflows.worker import run
    run(_instance(), queues=list(queues) or None, burst=burst)


# -- directory and access review (engine/directory.py, engine/access_review.py) -------

def _user_ref(ff, ref: str) -> str:
    """A user id from a user name or id."""
    from . import users
    from .errors import NotFound
    try:
        return users.get_user(ff, ref)["id"]
    except NotFound:
        return users.user_by_id(ff, ref)["id"]


@main.group()
def dept():
    """Departments (a tree) and their members."""


@dept.command("add")
@click.argument("name")
@click.option("--id", "dept_id", default=None, help="The department id (default: generated).")
@click.option("--parent", default=None, help="Id of the parent department.")
@click.option("--manager", default=None, help="User name or id of the manager.")
@friendly
def dept_add(name, dept_id, parent, manager):
    """Create a department NAME."""
    from . import directory
    ff = _instance()
    d = directory.add_department(ff, name, id=dept_id, parent=parent,
                                 manager=_user_ref(ff, manager) if manager else None)
    click.echo(f"Created department {d['id']} ({d['name']})")


@dept.command("list")
@friendly
def dept_list():
    """Print the department tree with managers and member counts."""
    from . import directory
    ff = _instance()

    def show(nodes, depth):
        for n in nodes:
            members = len(directory.get_department(ff, n["id"])["members"])
            manager = f", manager {n['manager_id']}" if n["manager_id"] else ""
            click.echo(f"{'  ' * depth}{n['id']}\t{n['name']}\t{members} member(s){manager}")
            show(n["children"], depth + 1)
    show(directory.department_tree(ff), 0)


@dept.command("member")
@click.argument("dept_id")
@click.argument("user")
@click.option("--primary", is_flag=True, help="Make it the user's primary department.")
@click.option("--remove", is_flag=True, help="Take the user out of the department.")
@friendly
def dept_member(dept_id, user, primary, remove):
    """Put USER in (or with --remove take out of) department DEPT_ID."""
    from . import directory
    ff = _instance()
    uid = _user_ref(ff, user)
    if remove:
        directory.remove_member(ff, dept_id, uid)
        click.echo(f"Removed {user} from {dept_id}")
    else:
        directory.add_member(ff, dept_id, uid, primary=primary)
        click.echo(f"Added {user} to {dept_id}" + (" (primary)" if primary else ""))


@main.group()
def role():
    """Roles and who holds them."""


@role.command("add")
@click.argument("key")
@click.option("--name", default=None)
@friendly
def role_add(key, name):
    """Create a role KEY (as named in app definitions)."""
    from . import directory
    directory.add_role(_instance(), key, name)
    click.echo(f"Created role {key}")


@role.command("list")
@friendly
def role_list():
    """Print every role and its members."""
    from . import directory
    for r in directory.list_roles(_instance()):
        click.echo(f"{r['key']}\t{r['name']}\t{', '.join(r['members']) or '-'}")


@role.command("grant")
@click.argument("key")
@click.argument("user")
@friendly
def role_grant(key, user):
    """Give USER the role KEY."""
    from . import directory
    ff = _instance()
    directory.grant_role(ff, key, _user_ref(ff, user))
    click.echo(f"Granted {key} to {user}")


@role.command("revoke")
@click.argument("key")
@click.argument("user")
@friendly
def role_revoke(key, user):
    """Take the role KEY from USER."""
    from . import directory
    ff = _instance()
    directory.revoke_role(ff, key, _user_ref(ff, user))
    click.echo(f"Revoked {key} from {user}")


@main.command("access-review")
@click.option("--days", default=90, show_default=True, type=click.IntRange(min=0),
              help="Report accounts not signed in for this many days.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def access_review_cmd(days, as_json):
    """Inactive accounts, disabled users with API keys, who sees each sensitive field."""
    from . import access_review
    rep = access_review.report(_instance(), days)
    if as_json:
        click.echo(json.dumps(rep, ensure_ascii=False, default=str))
        return
    click.echo(f"Accounts inactive for {days} days or more: {len(rep['inactive'])}")
    for u in rep["inactive"]:
        click.echo(f"  {u['username']}\tlast sign-in {u['last_login_at'] or 'never'}")
    click.echo(f"Disabled accounts still holding API keys: {len(rep['disabled_with_keys'])}")
    for u in rep["disabled_with_keys"]:
        click.echo(f"  {u['username']}\t{len(u['keys'])} key(s): {', '.join(k['prefix'] for k in u['keys'])}")
    click.echo("Sensitive fields and who can see them:")
    for f in rep["sensitive_fields"]:
        readers = ", ".join(f"{r['username']} ({'masked' if r['masked'] else 'clear'})" for r in f["readers"])
        click.echo(f"  {f['app']}.{f['form']}.{f['field']}\t{readers or 'nobody'}")


if __name__ == "__main__":  # pragma: no cover
    main()

