"""The ``llmloop`` command: groups for the server, the store, tenancy, models and the demo."""

from __future__ import annotations

import sys

import typer

from llmloop import __version__
from llmloop.cli.admin import db_app, keys_app, projects_app
from llmloop.cli.annotate import queues_app
from llmloop.cli.datasets import datasets_app
from llmloop.cli.demo import demo
from llmloop.cli.deploy import deploy_app
from llmloop.cli.evaluations import eval_app
from llmloop.cli.label import label_app
from llmloop.cli.models import models_app
from llmloop.cli.output import fail
from llmloop.cli.prompts import prompts_app
from llmloop.cli.serve import server
from llmloop.cli.suites import suites_app
from llmloop.cli.traces import traces_app
from llmloop.errors import LlmloopError

app = typer.Typer(
    name="llmloop",
    help="llmloop: data, prompts, evaluation, deployment and monitoring for LLM applications.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("server")(server)
app.command("demo")(demo)
app.add_typer(db_app, name="db")
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(traces_app, name="traces")
app.add_typer(eval_app, name="eval")
app.add_typer(suites_app, name="suites")
app.add_typer(datasets_app, name="datasets")
app.add_typer(label_app, name="label")
app.add_typer(prompts_app, name="prompts")
app.add_typer(deploy_app, name="deploy")
app.add_typer(queues_app, name="queues")


def _version(value: bool) -> None:
    if value:
        print(f"llmloop {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Run `llmloop demo` for the offline tour, `llmloop server` to serve the UI and API."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app, turning llmloop errors into a message and exit 1."""
    try:
        app(args=argv, standalone_mode=True)
    except LlmloopError as exc:
        raise SystemExit(fail(exc.message).exit_code) from None
    except KeyboardInterrupt:
        sys.exit(130)
