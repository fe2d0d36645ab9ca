"""Who may do what: the ONE authorization decision every API endpoint asks.

For now: admins may do everything; other signed-in users may read and write the
records of every app but not change definitions or accounts; an API key acts as
its user, limited to its apps and to reading unless it was made for writing.
The permissions issue replaces `can` with a permission service; callers stay.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# actions
READ = "read"          # read an app's definition and its records
WRITE = "write"        # create, change, delete and restore records
DEFINE = "define"      # install, change and remove app definitions
ADMIN = "admin"        # manage users
ACCOUNT = "account"    # manage one's own account and API keys


@dataclass
class Principal:
    """The caller of a request: a user, possibly through an API key."""

    user: dict
    via: str = "session"                     # "session" or "key"
    key_id: str | None = None
    key_apps: list[str] | None = None        # None: every app
    key_write: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.user["id"]

    @property
    def is_admin(self) -> bool:
        return bool(self.user.get("is_admin"))

    @property
    def caller(self) -> str:
        """A stable name of the caller (idempotency keys are per caller)."""
        return f"key:{self.key_id}" if self.via == "key" else f"user:{self.id}"


def can(principal: Principal | None, action: str, app: str | None = None, form: str | None = None) -> bool:
    """True when `principal` may do `action` (on `app`, and `form` of it, when given)."""
    if principal is None or not principal.user.get("is_active", True):
        return False
    if principal.via == "key":
        if action != READ and not principal.key_write:
            return False
        if principal.key_apps is not None:
            # a key limited to some apps touches only those apps' records and definitions
            if app is None or app not in principal.key_apps or action in (ADMIN, ACCOUNT):
                return False
    if action in (READ, WRITE, ACCOUNT):
        return True
    return principal.is_admin
