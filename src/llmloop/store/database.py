"""The database handle: an engine chosen by URL, transactions and migrations.

SQLite (the default) runs in WAL mode with a busy timeout and immediate write
transactions, so many concurrent writers queue instead of failing with "database is
locked". PostgreSQL is reached with ``postgresql+psycopg://…`` (the ``postgres`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from llmloop.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 64 * 1024  # page cache per connection (the default is 2 MiB)
# Checkpoint the WAL into the database every ~32 MiB rather than 4 MiB: index pages
# written by many commits are copied (and the file synced) once per checkpoint.
SQLITE_WAL_CHECKPOINT_PAGES = 8_000


def _normalise_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Take control of transactions: pysqlite's implicit BEGIN would defer the write lock
    # and turn lock upgrades into immediate SQLITE_BUSY errors under concurrency.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode: a commit is in the WAL file (the OS has it) before it returns,
    # so it survives the process being killed; only an OS crash or power loss can lose
    # the last commits (the WAL is synced at checkpoints). See docs/tracing.md.
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    cur.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_CHECKPOINT_PAGES}")
    cur.execute("PRAGMA temp_store = MEMORY")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write", True) else "BEGIN")


def create_db_engine(url: str) -> Engine:
    """Create an engine for ``url``, with a message naming the URL on failure."""
    url = _normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"database URL {url!r} is not a valid SQLAlchemy URL; "
            "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
        ) from None
    shown = parsed.render_as_string(hide_password=True)  # never put a password in a message
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"database URL {shown!r}: cannot create the folder {str(folder)!r} ({exc})"
                ) from None
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
    elif parsed.get_backend_name() == "postgresql":
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
    else:
        raise StoreError(
            f"database URL {shown!r}: backend {parsed.get_backend_name()!r} is not supported; "
            "use sqlite:/// or postgresql+psycopg://"
        )
    try:
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError as exc:
        raise StoreError(f"database URL {shown!r}: driver not installed ({exc})") from None
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"database URL {shown!r} needs the {exc.name!r} driver: pip install 'llmloop[postgres]'"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


class Database:
    """Engine plus transaction helpers. Repositories take one of these.

    Open one with :func:`llmloop.store.open_database`, which also checks and applies
    migrations.
    """

    def __init__(self, url: str) -> None:
        self.url = _normalise_url(url)
        self.engine = create_db_engine(self.url)
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            self.engine.dispose()
            raise StoreError(
                f"could not open database {self.safe_url!r}: {exc.orig or exc}"
            ) from None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def begin(self, conn: Connection | None = None) -> Iterator[Connection]:
        """A write transaction, or the caller's ``conn`` when one is already open."""
        if conn is not None:
            yield conn
            return
        with self.engine.begin() as c:
            yield c

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read-only connection (no write lock taken on SQLite)."""
        with self.engine.connect() as c:
            c.info["write"] = False
            try:
                yield c
            finally:
                c.info["write"] = True
                if c.in_transaction():
                    c.rollback()

    def table_names(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    def close(self) -> None:
        self.engine.dispose()
