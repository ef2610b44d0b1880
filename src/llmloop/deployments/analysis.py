"""A/B analysis of a deployment's arms from its traces and their scores.

Per arm: requests, p50/p95 latency, mean cost and tokens, error rate, mean of each score.
Each other arm is compared with the control (the ``stable`` version when it is in the
split, else the first arm): error rate and boolean scores by a two-proportion z-test,
latency, cost and numeric scores by Welch's t-test, each with a bootstrap interval of the
difference and the sample size per arm still needed for 80% power at the effect seen.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

import numpy as np
from pydantic import Field

from llmloop.deployments import statistics
from llmloop.deployments.service import STABLE, Deployments
from llmloop.records import Frozen
from llmloop.store.ab_stats import ArmSample, arm_samples
from llmloop.store.deployments import Deployment, DeploymentVersion

# metric -> (higher is better, label); scores are higher-is-better ("score:<name>")
BUILTIN_METRICS: dict[str, bool] = {"error_rate": False, "latency_ms": False, "cost_usd": False}
METRIC_ALIASES = {"latency": "latency_ms", "cost": "cost_usd", "errors": "error_rate"}


class ScoreStats(Frozen):
    kind: Literal["boolean", "numeric"]
    n: int
    mean: float


class ArmStats(Frozen):
    arm: str
    version_id: str | None = None
    share: float = Field(description="Configured share of traffic (0-1); 0 for past arms.")
    requests: int
    errors: int
    error_rate: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_mean_ms: float | None = None
    cost_mean_usd: float | None = None
    tokens_mean: float | None = None
    scores: dict[str, ScoreStats] = Field(default_factory=dict)


class Comparison(Frozen):
    """``arm`` minus ``control`` on one metric."""

    arm: str
    control: str
    metric: str
    test: str
    control_value: float
    arm_value: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    higher_is_better: bool
    verdict: Literal["better", "worse", "no difference"]
    n_control: int
    n_arm: int
    needed_per_arm: int | None = Field(
        default=None, description="Per arm, for 80% power at the observed effect."
    )
    still_needed: int | None = Field(
        default=None, description="More requests the smaller arm needs (0: enough)."
    )

    def describe(self) -> str:
        return (
            f"{self.metric} {self.arm_value:.4g} on {self.arm} vs {self.control_value:.4g} on "
            f"{self.control} (diff {self.diff:+.4g}, CI [{self.ci_low:.4g}, {self.ci_high:.4g}], "
            f"p={self.p_value:.3g}, {self.test}, n={self.n_arm}/{self.n_control})"
        )


class ABReport(Frozen):
    deployment: str
    environment: str
    since: datetime | None = None
    alpha: float
    control: str | None = None
    arms: list[ArmStats]
    comparisons: list[Comparison]


def canonical_metric(name: str) -> str:
    name = METRIC_ALIASES.get(name, name)
    return name if name in BUILTIN_METRICS or name.startswith("score:") else f"score:{name}"


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _score_kind(values: list[Any]) -> tuple[str, np.ndarray] | None:
    if values and all(isinstance(v, bool) for v in values):
        return "boolean", np.array(values, dtype=float)
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    if numbers and len(numbers) == len(values):
        return "numeric", np.array(numbers, dtype=float)
    return None


def arm_stats(sample: ArmSample, share: float, version_id: str | None) -> ArmStats:
    n = sample.requests
    durations, costs = sample.duration_ms, _finite(sample.cost_usd)
    scores: dict[str, ScoreStats] = {}
    for name, values in sorted(sample.scores.items()):
        typed = _score_kind(values)
        if typed is not None:
            kind, array = typed
            scores[name] = ScoreStats(kind=kind, n=array.size, mean=float(array.mean()))
    return ArmStats(
        arm=sample.arm,
        version_id=version_id,
        share=share,
        requests=n,
        errors=int(sample.error.sum()),
        error_rate=float(sample.error.mean()) if n else None,
        latency_p50_ms=float(np.percentile(durations, 50)) if n else None,
        latency_p95_ms=float(np.percentile(durations, 95)) if n else None,
        latency_mean_ms=float(durations.mean()) if n else None,
        cost_mean_usd=float(costs.mean()) if costs.size else None,
        tokens_mean=float(sample.tokens.mean()) if n else None,
        scores=scores,
    )


def _comparison(
    metric: str,
    higher_is_better: bool,
    control: ArmSample,
    arm: ArmSample,
    result: statistics.Significance,
    n1: int,
    n2: int,
    alpha: float,
) -> Comparison:
    significant = result.p_value < alpha
    if not significant:
        verdict = "no difference"
    else:
        verdict = "better" if (result.diff > 0) == higher_is_better else "worse"
    needed = result.needed_per_arm
    return Comparison(
        arm=arm.arm,
        control=control.arm,
        metric=metric,
        test=result.test,
        control_value=result.control,
        arm_value=result.candidate,
        diff=result.diff,
        ci_low=result.low,
        ci_high=result.high,
        p_value=result.p_value,
        significant=significant,
        higher_is_better=higher_is_better,
        verdict=verdict,
        n_control=n1,
        n_arm=n2,
        needed_per_arm=needed,
        still_needed=None if needed is None else max(0, needed - min(n1, n2)),
    )


def compare(control: ArmSample, arm: ArmSample, *, alpha: float, seed: int = 0) -> list[Comparison]:
    """Every metric both arms have data for, arm against control."""
    out: list[Comparison] = []
    n1, n2 = control.requests, arm.requests
    if n1 >= 1 and n2 >= 1:
        x1, x2 = int(control.error.sum()), int(arm.error.sum())
        result = statistics.two_proportion(x1, n1, x2, n2, alpha=alpha, seed=seed)
        out.append(_comparison("error_rate", False, control, arm, result, n1, n2, alpha))
    pairs = [
        ("latency_ms", control.duration_ms, arm.duration_ms),
        ("cost_usd", _finite(control.cost_usd), _finite(arm.cost_usd)),
    ]
    for name in sorted(set(control.scores) & set(arm.scores)):
        a, b = _score_kind(control.scores[name]), _score_kind(arm.scores[name])
        if a is None or b is None:
            continue
        if a[0] == "boolean" and b[0] == "boolean":
            k1, k2 = int(a[1].sum()), int(b[1].sum())
            result = statistics.two_proportion(k1, a[1].size, k2, b[1].size, alpha=alpha, seed=seed)
            out.append(
                _comparison(
                    f"score:{name}", True, control, arm, result, a[1].size, b[1].size, alpha
                )
            )
        else:
            pairs.append((f"score:{name}", a[1], b[1]))
    for metric, a_values, b_values in pairs:
        if a_values.size < 2 or b_values.size < 2:
            continue
        result = statistics.welch(a_values, b_values, alpha=alpha, seed=seed)
        if not all(math.isfinite(x) for x in (result.control, result.candidate, result.p_value)):
            continue
        higher = BUILTIN_METRICS.get(metric, True)
        out.append(
            _comparison(metric, higher, control, arm, result, a_values.size, b_values.size, alpha)
        )
    return out


def analyse(
    deployments: Deployments,
    deployment: Deployment,
    *,
    since: datetime | None = None,
    alpha: float | None = None,
    include_past_arms: bool = False,
) -> ABReport:
    """The A/B report of ``deployment`` since ``since`` (default: when its split was set)."""
    alpha = deployment.policy.alpha if alpha is None else alpha
    since = since if since is not None else deployment.routing.updated_at
    versions = {v.id: v for v in deployments.repo.versions(deployment.id)}
    aliases = {a.name: a.version_id for a in deployments.repo.aliases(deployment.id)}
    stable = versions.get(aliases.get(STABLE, ""))
    shares = _shares(deployment, stable)
    chosen: list[DeploymentVersion] = sorted(
        (versions[v] for v in shares if v in versions),
        key=lambda v: (stable is None or v.id != stable.id, v.number),
    )
    if include_past_arms:
        chosen += [v for v in versions.values() if v.id not in shares]
    samples = arm_samples(
        deployments.db,
        deployment.project_id,
        deployment.name,
        deployment.environment,
        [v.label for v in chosen],
        since=since,
    )
    stats = [arm_stats(samples[v.label], shares.get(v.id, 0.0), v.id) for v in chosen]
    control_version = (
        stable if stable is not None and stable.id in shares else (chosen[0] if chosen else None)
    )
    comparisons: list[Comparison] = []
    if control_version is not None:
        control = samples[control_version.label]
        for v in chosen:
            if v.id != control_version.id and samples[v.label].requests:
                comparisons += compare(control, samples[v.label], alpha=alpha)
    return ABReport(
        deployment=deployment.name,
        environment=deployment.environment,
        since=since,
        alpha=alpha,
        control=None if control_version is None else control_version.label,
        arms=[s for s in stats if s.share > 0 or s.requests > 0],
        comparisons=comparisons,
    )


def _shares(deployment: Deployment, stable: DeploymentVersion | None) -> dict[str, float]:
    split = deployment.routing.split
    if split:
        total = sum(a.weight for a in split)
        return {a.version_id: a.weight / total for a in split}
    return {} if stable is None else {stable.id: 1.0}
