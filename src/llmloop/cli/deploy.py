"""``llmloop deploy``: create, list, show, versions, promote, rollback, split, ab."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from llmloop.cli.output import JsonOption, console, print_json, show
from llmloop.cli.prompts import _pairs
from llmloop.deployments.analysis import ABReport
from llmloop.errors import ValidationError
from llmloop.sdk.client import connect

deploy_app = typer.Typer(
    help="Deployments: versions, promote and rollback, traffic splits, A/B statistics.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Deployment name, e.g. ticket-triage.")]
EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment.")]
ReasonOpt = Annotated[str, typer.Option(help="Why (kept in the audit log).")]
VERSION_COLUMNS = [
    ("version", lambda v: v.label),
    ("id", lambda v: v.id),
    ("model", lambda v: v.model),
    ("prompt version", lambda v: v.prompt_version_id),
    ("fallbacks", lambda v: ", ".join(v.fallbacks)),
    ("created", lambda v: v.created_at),
    ("by", lambda v: v.created_by),
    ("message", lambda v: v.message),
]


@deploy_app.command("create")
def deploy_create(
    name: NameArg,
    model: Annotated[str, typer.Option(help="Model reference, provider/name.")],
    prompt: Annotated[str | None, typer.Option(help="Prompt name to render.")] = None,
    prompt_version: Annotated[str, typer.Option(help="Label, v2 or id (resolved now).")] = "latest",
    param: Annotated[list[str] | None, typer.Option(help="key=value (repeat).")] = None,
    guardrail: Annotated[list[str] | None, typer.Option(help="key=value (repeat).")] = None,
    fallback: Annotated[list[str] | None, typer.Option(help="Fallback model (repeat).")] = None,
    fallback_on_refusal: Annotated[bool, typer.Option(help="Fall back on refusals too.")] = False,
    message: Annotated[str, typer.Option(help="Why this version.")] = "",
    env: EnvOpt = "production",
    as_json: JsonOption = False,
) -> None:
    """Add an immutable version (the deployment is created when missing)."""
    with connect() as client:
        version = client.deployments.create(
            name,
            model,
            environment=env,
            prompt=prompt,
            prompt_version=prompt_version,
            params=_pairs(param, "--param"),
            guardrails=_pairs(guardrail, "--guardrail"),
            fallbacks=fallback or [],
            fallback_on_refusal=fallback_on_refusal,
            message=message,
        )
    if as_json:
        print_json(version)
        return
    first = " (stable)" if version.number == 1 else ""
    console.print(f"{name} ({env}): {version.label} ({version.id}){first}", highlight=False)


@deploy_app.command("list")
def deploy_list(
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this one.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Deployments with their stable version and traffic split."""
    with connect() as client:
        summaries = client.deployments.list(env)
    show(
        summaries,
        as_json,
        [
            ("name", lambda s: s.deployment.name),
            ("env", lambda s: s.deployment.environment),
            ("versions", lambda s: s.versions),
            ("stable", lambda s: s.stable.label if s.stable else None),
            ("traffic", lambda s: _traffic(s.arms)),
            ("shadow", lambda s: s.shadow),
        ],
        title="Deployments",
        empty="no deployments yet; add one with `llmloop deploy create`",
    )


def _traffic(arms: dict[str, float]) -> str:
    return ", ".join(f"{arm} {share:.0%}" for arm, share in arms.items())


@deploy_app.command("show")
def deploy_show(name: NameArg, env: EnvOpt = "production", as_json: JsonOption = False) -> None:
    """Stable version, aliases, split, policy and versions."""
    with connect() as client:
        summary = client.deployments.get(name, env)
        versions = client.deployments.versions(name, env)
    if as_json:
        print_json({"summary": summary, "versions": versions})
        return
    labels = {v.id: v.label for v in versions}
    d = summary.deployment
    console.print(f"[bold]{d.name}[/bold] ({d.environment}) {d.description}", highlight=False)
    for alias in summary.aliases:
        console.print(f"  {alias.name} -> {labels.get(alias.version_id, alias.version_id)}")
    console.print(
        f"traffic: {_traffic(summary.arms) or '-'}; sticky by "
        f"{d.routing.sticky_by or '-'}; shadow {summary.shadow or '-'}"
    )
    p = d.policy
    console.print(
        f"policy: auto-rollback {p.auto_rollback}, auto-promote {p.auto_promote}, "
        f"alpha {p.alpha}, min {p.min_samples}, metrics {', '.join(p.metrics)}"
    )
    show(versions, False, VERSION_COLUMNS, title="Versions")


@deploy_app.command("versions")
def deploy_versions(name: NameArg, env: EnvOpt = "production", as_json: JsonOption = False) -> None:
    """Versions, newest first."""
    with connect() as client:
        versions = client.deployments.versions(name, env)
    show(versions, as_json, VERSION_COLUMNS, title=f"Versions of {name} ({env})")


@deploy_app.command("promote")
def deploy_promote(
    name: NameArg,
    version: Annotated[str, typer.Argument(help="Version to make stable (v2, alias, id).")],
    reason: ReasonOpt,
    env: EnvOpt = "production",
    as_json: JsonOption = False,
) -> None:
    """Make a version stable: it gets all traffic; the split is cleared (audited)."""
    with connect() as client:
        moved = client.deployments.promote(name, version, reason, env)
    if as_json:
        print_json(moved)
        return
    before = f" (was {moved.previous.label})" if moved.previous else ""
    console.print(f"{name} ({env}): stable -> {moved.stable.label}{before}")


@deploy_app.command("rollback")
def deploy_rollback(
    name: NameArg,
    reason: ReasonOpt,
    to: Annotated[str | None, typer.Option(help="Version to go back to.")] = None,
    canary: Annotated[str | None, typer.Option(help="Only stop this canary arm.")] = None,
    env: EnvOpt = "production",
    as_json: JsonOption = False,
) -> None:
    """Stop the canary arms, or move stable back to the previous version (audited)."""
    with connect() as client:
        moved = client.deployments.rollback(name, reason, to=to, canary=canary, environment=env)
    if as_json:
        print_json(moved)
        return
    if moved.removed_arms:
        console.print(
            f"{name} ({env}): stopped {', '.join(moved.removed_arms)}; stable {moved.stable.label}"
        )
    else:
        console.print(f"{name} ({env}): stable -> {moved.stable.label}")


@deploy_app.command("split")
def deploy_split(
    name: NameArg,
    weights: Annotated[list[str], typer.Argument(help="version=weight, e.g. stable=90 v3=10.")],
    sticky_by: Annotated[str | None, typer.Option(help="user or session.")] = None,
    shadow: Annotated[str | None, typer.Option(help="Version receiving a copy.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    env: EnvOpt = "production",
    as_json: JsonOption = False,
) -> None:
    """Set the weighted split between versions (A/B, canary)."""
    parsed: dict[str, float] = {}
    for item in weights:
        version, sep, weight = item.partition("=")
        try:
            parsed[version] = float(weight)
        except ValueError:
            sep = ""
        if not sep or not version:
            raise ValidationError(f"split {item!r} must look like version=weight (v2=10)")
    with connect() as client:
        summary = client.deployments.split(
            name, parsed, sticky_by=sticky_by, shadow=shadow, reason=reason, environment=env
        )
    if as_json:
        print_json(summary)
        return
    console.print(f"{name} ({env}): {_traffic(summary.arms)}")


@deploy_app.command("ab")
def deploy_ab(
    name: NameArg,
    env: EnvOpt = "production",
    alpha: Annotated[float | None, typer.Option(help="Default: the policy's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Per-arm statistics and significance against the control since the split was set."""
    with connect() as client:
        report = client.deployments.ab(name, environment=env, alpha=alpha)
    if as_json:
        print_json(report)
        return
    _print_report(report)


def _fmt(value: Any, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def _print_report(report: ABReport) -> None:
    show(
        report.arms,
        False,
        [
            ("arm", lambda a: a.arm),
            ("share", lambda a: f"{a.share:.0%}"),
            ("requests", lambda a: a.requests),
            ("error rate", lambda a: _fmt(a.error_rate)),
            ("p50 ms", lambda a: _fmt(a.latency_p50_ms, ".1f")),
            ("p95 ms", lambda a: _fmt(a.latency_p95_ms, ".1f")),
            ("cost", lambda a: _fmt(a.cost_mean_usd)),
            ("scores", lambda a: ", ".join(f"{k}={s.mean:.3g}" for k, s in a.scores.items())),
        ],
        title=f"{report.deployment} ({report.environment}), control {report.control}",
    )
    show(
        report.comparisons,
        False,
        [
            ("arm", lambda c: c.arm),
            ("metric", lambda c: c.metric),
            ("diff", lambda c: f"{c.diff:+.4g}"),
            (f"{1 - report.alpha:.0%} CI", lambda c: f"[{c.ci_low:.4g}, {c.ci_high:.4g}]"),
            ("p", lambda c: f"{c.p_value:.3g}"),
            ("verdict", lambda c: c.verdict),
            ("still needed", lambda c: c.still_needed),
        ],
        title="Against the control",
        empty="no other arm has traffic yet",
    )
