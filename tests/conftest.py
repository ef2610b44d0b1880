"""Shared fixtures: a database per dialect, settings, the runtime, the app and a live server.

Every database-touching test takes ``db_url`` (directly or through ``db``, ``settings``,
``runtime``, ``app``, ``client``, ``live_server``) and so runs twice: on a fresh SQLite
file and on a fresh PostgreSQL schema. PostgreSQL comes from ``LLMLOOP_TEST_POSTGRES_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); when it is unreachable
those tests are skipped with the reason, or fail when the ``CI`` variable is set.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from llmloop.runtime import Runtime
from llmloop.server.app import create_app
from llmloop.settings import Settings, get_settings
from llmloop.store import Database, open_database
from support import LiveServer, PostgresServer, Tenant, make_tenant, serve

pytest_plugins = ["browser"]

POSTGRES_URL = os.environ.get(
    "LLMLOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
KEEP_ENV = {"LLMLOOP_TEST_POSTGRES_URL"}


# --------------------------------------------------------------------------- environment


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Never touch the user's data dir, config file or server: clear LLMLOOP_* for the run.

    ``LLMLOOP_DATA_DIR`` points at a session tmp dir and ``LLMLOOP_CONFIG`` at an empty
    TOML file there, so a ``./llmloop.toml`` in the working directory is not read either
    (tests of the config-file lookup ``monkeypatch.delenv("LLMLOOP_CONFIG")``).
    """
    home = tmp_path_factory.mktemp("llmloop-home")
    config = home / "empty-config.toml"
    config.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("LLMLOOP_") and name not in KEEP_ENV:
                mp.delenv(name)
        mp.setenv("LLMLOOP_DATA_DIR", str(home / "data"))
        mp.setenv("LLMLOOP_CONFIG", str(config))
        mp.setenv("XDG_DATA_HOME", str(home / "xdg"))
        get_settings.cache_clear()
        yield home
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_settings_cache() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    engine = create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, ImportError) as exc:
        engine.dispose()
        reason = (
            f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string(hide_password=True)} "
            f"is unreachable ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "set LLMLOOP_TEST_POSTGRES_URL or start one"
        )
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    server = PostgresServer(POSTGRES_URL, engine)
    yield server
    failures = server.close()
    if failures:
        pytest.fail("could not drop test schemas: " + "; ".join(failures), pytrace=False)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def dialect(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``: every test using a database runs on both."""
    return str(request.param)


@pytest.fixture
def db_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of an empty database of ``dialect`` that only this test sees."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'llmloop.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    schema = server.create_schema()
    try:
        yield server.url_for(schema)
    finally:
        server.drop_schema_later(schema)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """The test's database, opened and migrated to head."""
    database = open_database(db_url)
    yield database
    database.close()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings for the test's database; override this fixture to change a value."""
    return Settings(data_dir=tmp_path, database_url=db_url)


@pytest.fixture
def runtime(settings: Settings, db: Database) -> Iterator[Runtime]:
    """The wired-up runtime on the test's settings and database.

    Its providers are closed by the app's lifespan (``client``, ``live_server``); a test
    that calls ``runtime.providers`` directly awaits ``runtime.providers.aclose()`` itself.
    """
    rt = Runtime(settings, db=db)
    yield rt
    rt.close()


# --------------------------------------------------------------------------- server


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    """The real application on the test's runtime."""
    return create_app(runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """In-process client (lifespan runs); for API tests where a socket adds nothing."""
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
async def aclient(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Async in-process client over ``httpx.ASGITransport`` (no lifespan, no socket)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def tenant_factory(runtime: Runtime) -> Callable[..., Tenant]:
    """``tenant_factory(name)`` makes a project with a key of every role (see Tenant)."""

    def make(name: str, description: str = "") -> Tenant:
        return make_tenant(runtime, name, description)

    return make


@pytest.fixture
def tenant(tenant_factory: Callable[..., Tenant]) -> Tenant:
    """Project ``acme`` with a viewer, editor, admin and public key."""
    return tenant_factory("acme", "The main test project")


@pytest.fixture
def live_server(app: FastAPI, runtime: Runtime) -> Iterator[LiveServer]:
    """The app served by uvicorn on 127.0.0.1:<ephemeral>, stopped after the test."""
    server = serve(app, runtime)
    yield server
    server.stop()
