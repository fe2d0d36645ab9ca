"""Database engines for SQLite (embedded default) and PostgreSQL, chosen by one URL.

SQLite is tuned for many concurrent writers: WAL journal, foreign keys, a busy
timeout, and write transactions that take the write lock up front
(BEGIN IMMEDIATE). A deferred transaction that reads first and writes later can
fail with "database is locked" without waiting for the busy timeout (the
read-to-write upgrade deadlocks); taking the lock at BEGIN makes writers queue
instead. Readers use ordinary deferred transactions and never block writers.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event

from . import defaults


class Database:
    """One SQLAlchemy engine plus read and write transaction helpers."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.dialect = self.engine.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite); commits on success."""
        with self.engine.connect().execution_options(formflow_write=True) as conn:
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read-only transaction (a consistent snapshot)."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def create_engine(url: str, **kwargs) -> sa.Engine:
    """An engine for `url`, with SQLite's pragmas and locking discipline applied."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("check_same_thread", False)
        kwargs["connect_args"].setdefault("timeout", defaults.SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = sa.create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit
        # transactions would start them too late, see the module docstring).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={defaults.SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        try:
            from .expr import sql as expr_sql
        except ImportError:  # the expression language is optional for bare storage use
            return
        register = getattr(expr_sql, "register_sqlite_functions", None)
        if register is not None:
            register(dbapi_conn)

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        if conn.get_execution_options().get("formflow_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
