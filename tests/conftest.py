"""Shared fixtures: real SQLite and PostgreSQL databases, one fresh schema per test.

PostgreSQL (FORMFLOW_TEST_PG_URL, default 127.0.0.1:5432/test) and Redis are
required: a missing service fails the run instead of skipping tests.
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("FORMFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FORMFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def pg_admin_engine():
    """An engine on the PostgreSQL test database; fails loudly when it is down."""
    engine = sa.create_engine(PG_URL, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is required for the tests and is not reachable at {PG_URL}: {exc}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin_engine):
    """A URL whose connections use a fresh, empty schema (dropped after the test)."""
    schema = "t_" + uuid.uuid4().hex[:16]
    with pg_admin_engine.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with pg_admin_engine.begin() as conn:
        conn.execute(sa.text(f'drop schema "{schema}" cascade'))


@pytest.fixture
def sqlite_url(tmp_path):
    """A URL of a new SQLite file."""
    return f"sqlite:///{tmp_path / 'formflow.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request):
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture(scope="session")
def redis_url():
    """URL of the Redis test database; fails loudly when Redis is down."""
    import redis
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"Redis is required for the tests and is not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


# -- formflow instances --------------------------------------------------------

REPAIR_APP = {
    "key": "repair", "label": {"zh-CN": "设备报修", "en": "Equipment repair"},
    "forms": [
        {"key": "ticket", "label": {"zh-CN": "报修单", "en": "Ticket"}, "fields": [
            {"key": "title", "type": "text", "label": {"zh-CN": "标题", "en": "Title"}, "required": True},
            {"key": "qty", "type": "number", "label": {"en": "Quantity"}, "min": 0, "indexed": True},
            {"key": "status", "type": "select", "label": {"en": "Status"}, "options": ["open", "closed"]},
            {"key": "parts", "type": "subform", "label": {"en": "Parts"}, "fields": [
                {"key": "part", "type": "text", "label": {"en": "Part"}},
                {"key": "price", "type": "decimal", "label": {"en": "Price"}}]},
            {"key": "total", "type": "formula", "label": {"en": "Total"}, "formula": "SUM(parts.price) * qty"},
            {"key": "machine", "type": "link", "label": {"en": "Machine"}, "target": "machine"}]},
        {"key": "machine", "label": {"en": "Machine"}, "fields": [
            {"key": "name", "type": "text", "label": {"en": "Name"}, "unique": True}]}]}


@pytest.fixture
def make_ff(tmp_path):
    """Factory of Formflow instances on a database URL (closed after the test)."""
    from engine.config import Config
    from engine.formflow import Formflow
    made = []

    def make(url):
        inst = Formflow(Config(data_dir=tmp_path / "data", env="test"), database_url=url)
        inst.init_db()
        made.append(inst)
        return inst
    yield make
    for inst in made:
        inst.close()


@pytest.fixture
def ff(make_ff, db_url):
    """A Formflow instance with the engine tables, on SQLite and on PostgreSQL."""
    return make_ff(db_url)


@pytest.fixture
def repair(ff):
    """The issue's repair app installed; returns the instance."""
    import copy
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    return ff
