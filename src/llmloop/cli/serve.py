"""``llmloop server``: run the API, gateway, UI and metrics in one process."""

from __future__ import annotations

import gc
import ipaddress
import sys
from typing import Annotated

import typer
import uvicorn

from llmloop.cli.output import console, err_console
from llmloop.runtime import Runtime
from llmloop.server.app import create_app
from llmloop.settings import get_settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def announce(runtime: Runtime, host: str, port: int) -> None:
    """Create the default project and admin key on first start; print the key once."""
    project, secret = runtime.tenancy.bootstrap(runtime.settings.project)
    url = f"http://{host}:{port}"
    # soft_wrap: links must stay on one line to be clickable and copyable
    console.print(f"llmloop serving project [bold]{project.name}[/bold] at {url}", soft_wrap=True)
    console.print(
        f"  API docs {url}/api/v1/docs · metrics {url}/metrics · UI {url}/", soft_wrap=True
    )
    if secret:
        console.print(
            "  First start: created an admin key. It is shown only this once, keep it:\n"
            f"    [bold]{secret}[/bold]\n"
            f"  Open the UI signed in: {url}/login?key={secret}",
            soft_wrap=True,
        )


def server(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8642).", min=1, max=65535)] = None,
    workers_log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level.")
    ] = "warning",
) -> None:
    """Serve the REST API, the web UI and /metrics."""
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    runtime = Runtime(settings)
    if not _is_loopback(host) and not runtime.tenancy.keys_exist():
        err_console.print(
            f"[yellow]warning:[/yellow] binding {host} with no API keys issued yet; "
            "the key printed below is the only way in"
        )
    announce(runtime, host, port)
    app = create_app(runtime)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=workers_log_level, access_log=False
    )
    gc.collect()
    gc.freeze()  # what startup made lives forever: keep it out of every later collection
    # the trace writer thread shares the GIL with the event loop: hand it back sooner
    sys.setswitchinterval(0.0005)
    uvicorn.Server(config).run()
