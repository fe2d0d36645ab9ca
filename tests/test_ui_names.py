"""Names instead of ids where the table, record and kanban pages show user, department and link values:
inside subform rows on the record page, in the table view's group-by labels and on kanban cards;
and the header the kanban and calendar views share."""
from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

import pytest

from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import ADMIN, ADMIN_PW, CLERK, CLERK_PW

ORG_APP = {"key": "org", "label": {"zh-CN": "组织", "en": "Org"}, "forms": [
    {"key": "project", "label": {"en": "Project"}, "fields": [
        {"key": "name", "type": "text", "label": {"en": "Name"}}]},
    {"key": "secret", "label": {"en": "Secret"}, "fields": [
        {"key": "name", "type": "text", "label": {"en": "Name"}}]},
    {"key": "task", "label": {"en": "Task"}, "fields": [
        {"key": "title", "type": "text", "label": {"en": "Title"}},
        {"key": "status", "type": "select", "label": {"en": "Status"}, "options": [
            {"value": "todo", "label": {"zh-CN": "待办", "en": "To do"}},
            {"value": "done", "label": {"zh-CN": "完成", "en": "Done"}}]},
        {"key": "owner", "type": "user", "label": {"en": "Owner"}},
        {"key": "team", "type": "department", "label": {"en": "Team"}},
        {"key": "urgent", "type": "boolean", "label": {"en": "Urgent"}},
        {"key": "steps", "type": "subform", "label": {"en": "Steps"}, "fields": [
            {"key": "step", "type": "text", "label": {"en": "Step"}},
            {"key": "who", "type": "user", "label": {"en": "Who"}},
            {"key": "dept", "type": "department", "label": {"en": "Department"}},
            {"key": "project", "type": "link", "target": "project", "label": {"en": "Project"}},
            {"key": "secret", "type": "link", "target": "secret", "label": {"en": "Secret"}}]}]}],
    # everyone reads tasks and projects; only administrators read the secret form
    "permissions": [
        {"key": "tasks", "form": "task", "who": {"everyone": True}, "actions": ["read"], "new_fields": "readonly"},
        {"key": "projects", "form": "project", "who": {"everyone": True}, "actions": ["read"],
         "new_fields": "readonly"}]}
TASKS = "/apps/org/forms/task"
CHILDREN = ["step", "who", "dept", "project", "secret"]


class _Select(HTMLParser):
    """The texts of the elements a simple CSS selector picks: descendant parts of `tag`, `#id`,
    `.class` and `[attr=value]` (enough for these tests; the standard library has no selector)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self, selector: str):
        super().__init__(convert_charrefs=True)
        self.parts = [self._compound(p) for p in selector.split()]
        self.stack: list[tuple[str, dict]] = []
        self.open: list[list] = []  # [stack depth, text pieces] of the picked elements still open
        self.found: list[str] = []

    @staticmethod
    def _compound(text: str) -> dict:
        want = {"tag": None, "attrs": {}, "classes": []}
        for kind, name, value in re.findall(r"([#.\[]?)([\w-]+)(?:=([^\]]*))?\]?", text):
            if kind == "#":
                want["attrs"]["id"] = name
            elif kind == ".":
                want["classes"].append(name)
            elif kind == "[":
                want["attrs"][name] = value.strip("'\"")
            else:
                want["tag"] = name
        return want

    @staticmethod
    def _matches(want: dict, tag: str, attrs: dict) -> bool:
        classes = (attrs.get("class") or "").split()
        return ((want["tag"] is None or want["tag"] == tag)
                and all(attrs.get(k) == v for k, v in want["attrs"].items())
                and all(c in classes for c in want["classes"]))

    def _picked(self) -> bool:
        *ancestors, last = self.parts
        if not self._matches(last, *self.stack[-1]):
            return False
        i = 0
        for element in self.stack[:-1]:
            if i < len(ancestors) and self._matches(ancestors[i], *element):
                i += 1
        return i == len(ancestors)

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        self.stack.append((tag, {k: v or "" for k, v in attrs}))
        if self._picked():
            self.open.append([len(self.stack), []])

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, _attrs = self.stack.pop()
            if self.open and self.open[-1][0] == len(self.stack) + 1:
                self.found.append(" ".join("".join(self.open.pop()[1]).split()))
            if open_tag == tag:
                break

    def handle_data(self, data):
        for _depth, pieces in self.open:
            pieces.append(data)


def texts(html: str, selector: str) -> list[str]:
    """The whitespace-normalised text of every element `selector` picks, in document order."""
    parser = _Select(selector)
    parser.feed(html)
    return parser.found


@pytest.fixture
def org(site):
    """The org app with a department, a project, a secret and the clerk named "Clara Clerk"."""
    from engine import directory, tables
    ff = site.ff
    ff.apps.install(copy.deepcopy(ORG_APP))
    with ff.db.write() as conn:
        conn.execute(tables.users.update().where(tables.users.c.id == site.clerk["id"])
                     .values(display_name="Clara Clerk"))
    site.dept = directory.add_department(ff, "Research")
    site.project = ff.records.create("org", "project", {"name": "Apollo"})
    site.secret = ff.records.create("org", "secret", {"name": "Area 51"})
    return site


def _client(site, user=ADMIN, password=ADMIN_PW):
    client = client_of(site, user, password)
    client.set_cookie("ff_lang", "en")
    return client


def _task(site, **values):
    return site.ff.records.create("org", "task", {"title": "Launch", **values})


def _step_cells(client, record) -> list[dict]:
    """The record page's subform rows of `steps` as {child key: cell text}."""
    html = client.get(f"{TASKS}/records/{record['_id']}").get_data(as_text=True)
    cells = texts(html, "dd[data-key=steps] tbody td")
    return [dict(zip(CHILDREN, cells[i:i + len(CHILDREN)])) for i in range(0, len(cells), len(CHILDREN))]


def _groups(client, group: str) -> dict[str, str]:
    """The table view's group labels and their counts, grouped by `group` (only the title column shown)."""
    groups = client.get(TASKS + "/group-counts", query_string={"group": group}).json["groups"]
    return {g["label"]: str(g["count"]) for g in groups}


# -- subform rows on the record page -----------------------------------------------------

def test_a_subform_rows_user_is_shown_by_name(org):
    record = _task(org, steps=[{"step": "design", "who": org.clerk["id"]}])
    assert _step_cells(_client(org), record)[0]["who"] == "Clara Clerk"


def test_a_subform_rows_department_is_shown_by_name(org):
    record = _task(org, steps=[{"step": "design", "dept": org.dept["id"]}])
    assert _step_cells(_client(org), record)[0]["dept"] == "Research"


def test_a_subform_rows_link_is_shown_by_the_linked_records_name(org):
    record = _task(org, steps=[{"step": "design", "project": org.project["_id"]}])
    assert _step_cells(_client(org), record)[0]["project"] == "Apollo"


def test_every_subform_row_is_named(org):
    record = _task(org, steps=[{"step": "design", "who": org.clerk["id"]},
                               {"step": "build", "who": org.admin["id"], "project": org.project["_id"]}])
    rows = _step_cells(_client(org), record)
    assert [(r["step"], r["who"], r["project"]) for r in rows] == [("design", "Clara Clerk", ""),
                                                                 ("build", ADMIN, "Apollo")]


def test_a_subform_link_to_a_record_the_caller_may_not_read_stays_an_id(org):
    record = _task(org, steps=[{"step": "design", "secret": org.secret["_id"], "project": org.project["_id"]}])
    row = _step_cells(_client(org, CLERK, CLERK_PW), record)[0]
    assert row["secret"] == org.secret["_id"]
    assert row["project"] == "Apollo"


def test_an_administrator_sees_the_name_of_that_linked_record(org):
    record = _task(org, steps=[{"step": "design", "secret": org.secret["_id"]}])
    assert _step_cells(_client(org), record)[0]["secret"] == "Area 51"


def test_a_name_in_a_subform_row_is_text_not_html(org):
    from engine import directory
    dept = directory.add_department(org.ff, "<b>R&D</b>")
    record = _task(org, steps=[{"step": "design", "dept": dept["id"]}])
    html = _client(org).get(f"{TASKS}/records/{record['_id']}").get_data(as_text=True)
    assert "<b>R&D</b>" not in html
    assert _step_cells(_client(org), record)[0]["dept"] == "<b>R&D</b>"


# -- group labels in the table view --------------------------------------------------------

def test_grouping_by_a_user_field_labels_the_groups_with_names(org):
    _task(org, owner=org.clerk["id"])
    _task(org, owner=org.clerk["id"])
    _task(org, owner=org.admin["id"])
    assert _groups(_client(org), "owner") == {"Clara Clerk": "2", ADMIN: "1"}


def test_grouping_by_a_department_field_labels_the_groups_with_names(org):
    _task(org, team=org.dept["id"])
    assert _groups(_client(org), "team") == {"Research": "1"}


def test_grouping_by_a_select_field_labels_the_groups_with_the_option_labels(org):
    _task(org, status="todo")
    _task(org, status="done")
    _task(org, status="done")
    assert _groups(_client(org), "status") == {"Done": "2", "To do": "1"}


def test_grouping_by_a_boolean_field_labels_the_groups_yes_and_no(org):
    _task(org, urgent=True)
    _task(org, urgent=False)
    _task(org, urgent=False)
    assert _groups(_client(org), "urgent") == {"No": "2", "Yes": "1"}


def test_blank_values_are_one_group_labelled_blank(org):
    _task(org, owner=org.clerk["id"])
    _task(org)
    _task(org)
    assert _groups(_client(org), "owner") == {"(blank)": "2", "Clara Clerk": "1"}


def test_group_labels_are_translated(org):
    _task(org, urgent=True)
    _task(org)
    client = _client(org)
    client.set_cookie("ff_lang", "zh_CN")
    assert _groups(client, "urgent") == {"是": "1", "（空）": "1"}


# -- kanban -----------------------------------------------------------------------------------

def test_kanban_columns_are_titled_with_the_option_labels(org):
    _task(org, status="done")
    html = _client(org).get(f"{TASKS}/kanban").get_data(as_text=True)
    assert texts(html, "#kanban .kanban-col h2 span") == ["To do", "0", "Done", "1", "(blank)", "0"]


def test_kanban_cards_show_user_and_department_names(org):
    _task(org, status="todo", owner=org.clerk["id"], team=org.dept["id"])
    html = _client(org).get(f"{TASKS}/kanban").get_data(as_text=True)
    assert texts(html, "#kanban .kanban-card small") == ["Owner: Clara Clerk", "Team: Research"]


# -- the header of the kanban and calendar views ------------------------------------------------

@pytest.mark.parametrize("view, title", [("kanban", "Kanban"), ("calendar", "Calendar")])
def test_kanban_and_calendar_open_with_crumbs_title_and_the_view_switch(org, view, title):
    html = _client(org).get(f"{TASKS}/{view}").get_data(as_text=True)
    assert texts(html, "nav.crumbs a") == ["Org", "Task"]
    assert texts(html, "nav.crumbs span") == [title]
    assert texts(html, "main h1") == [f"Task · {title}"]
    assert texts(html, "#view-links a[aria-current=page]") == [title]
