"""Deployments on the gateway's path: route-plan lookups, prompt rendering, A/B analysis.

Baselines in the same run: building a plan from the database (what a cache miss costs)
against the cached lookup the gateway makes; a plain compiled ``jinja2.Template`` against
our sandboxed renderer with variable checks; reading the arms' raw samples against the
whole A/B report (tests, bootstrap intervals) on SQLite with 20,000 traces.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
from benchlib import repeat, save, summary_ms

from llmloop.deployments.analysis import analyse
from llmloop.deployments.plans import DeploymentPlans
from llmloop.deployments.service import ArmWeight, Deployments, VersionSpec
from llmloop.prompts.service import Prompts
from llmloop.records import new_id
from llmloop.store import Database, open_database
from llmloop.store.ab_stats import arm_samples
from llmloop.store.projects import ProjectRepository
from llmloop.store.prompts import PromptContent
from llmloop.store.traces import TraceRepository, trace_scores
from llmloop.store.traces_types import Span
from llmloop.tenancy import Tenancy

ACTOR = "bench"
SYSTEM = "You triage tickets for {{ product }}. Known intents: {{ intents | join(', ') }}."
USER = "Ticket from {{ customer }}: {{ ticket }}"
VARIABLES = {"product": "Acme", "intents": ["refund", "shipping", "login"],
             "customer": "Ana", "ticket": "my parcel is late"}  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        tenancy = Tenancy(db)
        project = ProjectRepository(db).create("bench")
        content = PromptContent(
            kind="chat",
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],  # type: ignore[list-item]
            variables=[{"name": "product"}, {"name": "intents", "type": "list"},  # type: ignore[list-item]
                       {"name": "customer"}, {"name": "ticket"}],  # type: ignore[list-item]
        )  # fmt: skip
        Prompts(db, tenancy.audit).commit(project.id, "triage", content, actor=ACTOR, create=True)
        deployments = Deployments(db, tenancy.audit)
        for model in ("openai/a", "openai/b"):
            spec = VersionSpec(prompt="triage", model=model)
            deployments.create_version(project.id, "t", spec, actor=ACTOR, create=True)
        split = [ArmWeight(version="v1", weight=9), ArmWeight(version="v2", weight=1)]
        deployments.set_routing(project.id, "t", split, actor=ACTOR, sticky_by="user")

        cold = DeploymentPlans(db, ttl_s=0.0)
        warm = DeploymentPlans(db, ttl_s=3600.0)
        build = repeat(lambda: cold.plan(project.id, "t", None), n=300, warmup=20)
        hit = repeat(lambda: warm.plan(project.id, "t", None), n=20000, warmup=100)
        render = warm.plan(project.id, "t", None).arms[0].render
        assert render is not None
        plain = [jinja2.Template(SYSTEM), jinja2.Template(USER)]
        base_render = repeat(lambda: [t.render(VARIABLES) for t in plain], n=5000, warmup=100)
        ours_render = repeat(lambda: render(VARIABLES), n=5000, warmup=100)

        rows_ab = _ab(db, project.id, deployments)
        rows = [
            {"case": "plan: build from database (baseline)", **summary_ms(build)},
            {"case": "plan: cached lookup", **summary_ms(hit),
             "speedup_x": round(summary_ms(build)["p50_ms"] / summary_ms(hit)["p50_ms"], 1)},
            {"case": "render: plain jinja2.Template (baseline)", **summary_ms(base_render)},
            {"case": "render: sandboxed + typed variables", **summary_ms(ours_render),
             "ratio_x": round(summary_ms(ours_render)["p50_ms"]
                              / summary_ms(base_render)["p50_ms"], 2)},
            *rows_ab,
        ]  # fmt: skip
        db.close()
    path = save("deployment_plans", rows, notes="SQLite in a temp dir; 2 arms, 10k traces each.")
    for row in rows:
        print(row)
    print(f"wrote {path}")


def _traffic(db: Database, project_id: str, arm: str, n: int, errors: int, every: int) -> None:
    """``n`` one-span traces of ``arm`` as the gateway tags them, with feedback scores."""
    start = datetime.now(UTC)
    spans = [
        Span(trace_id=os.urandom(16).hex(), span_id=os.urandom(8).hex(), name="chat", kind="llm",
             start_time=start, end_time=start + timedelta(milliseconds=100 + i % 50),
             duration_ms=100.0 + i % 50, status="error" if i < errors else "ok",
             input_tokens=10, output_tokens=5, cost_usd=0.001,
             tags=["deployment:t", f"arm:{arm}", "env:production"])
        for i in range(n)
    ]  # fmt: skip
    TraceRepository(db).insert(project_id, spans)
    rows = [
        {"id": new_id("scr"), "project_id": project_id, "trace_id": s.trace_id,
         "target_kind": "trace", "target_id": s.trace_id, "name": "feedback",
         "value": i % every != 0, "rationale": None, "source": "user", "scorer_version": None,
         "cost_usd": 0.0, "created_at": start}
        for i, s in enumerate(spans)
    ]  # fmt: skip
    with db.begin() as conn:
        conn.execute(trace_scores.insert(), rows)


def _ab(db: Database, project_id: str, deployments: Deployments) -> list[dict[str, object]]:
    _traffic(db, project_id, "v1", 10_000, 100, 3)
    _traffic(db, project_id, "v2", 10_000, 150, 4)
    deployment = deployments.get(project_id, "t")
    read = repeat(
        lambda: arm_samples(db, project_id, "t", "production", ["v1", "v2"]), n=5, warmup=1
    )
    full = repeat(lambda: analyse(deployments, deployment, since=None), n=5, warmup=1)
    return [
        {"case": "A/B: read samples of 2x10k traces (baseline)", **summary_ms(read)},
        {"case": "A/B: full report (tests, bootstrap CIs)", **summary_ms(full),
         "ratio_x": round(summary_ms(full)["p50_ms"] / summary_ms(read)["p50_ms"], 2)},
    ]  # fmt: skip


if __name__ == "__main__":
    main()
