"""Gates for CI: rules over a run's aggregates and its deltas against a baseline run.

Rules::

    accuracy>=0.9                      an aggregate of the run
    delta(f1)>=-0.01                   candidate minus the default baseline run
    delta(f1)>=-0.01 vs run_abc        … against that run
    delta(accuracy)>=0 at p<0.05       fails only when the drop is also significant

With ``require_golden`` the gate also fails unless the run was evaluated on the version
its dataset's ``golden`` alias points to now.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence

from llmloop.data.datasets import GOLDEN
from llmloop.errors import NotFoundError, ValidationError
from llmloop.evaluation.compare import Comparison, compare_stored
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES
from llmloop.records import Frozen
from llmloop.store.datasets import DatasetRepository
from llmloop.store.evaluations import EvalRun, EvaluationRepository

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_RULE = re.compile(
    r"""^\s*(?:delta\(\s*(?P<delta>[^()\s]+)\s*\)|(?P<metric>[^<>=()\s]+))
    \s*(?P<op>>=|<=|==|>|<)\s*(?P<threshold>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    (?:\s+vs\s+(?P<baseline>\S+))?
    (?:\s+at\s+p\s*<\s*(?P<alpha>0?\.\d+))?\s*$""",
    re.VERBOSE,
)
USAGE = (
    "write '<metric><op><number>' or 'delta(<metric>)<op><number> [vs <run>] [at p<0.05]' "
    "with op one of >=, <=, >, <, =="
)


class GateRuleError(ValidationError):
    code = "invalid_gate_rule"


class GateRule(Frozen):
    text: str
    metric: str
    op: str
    threshold: float
    delta: bool = False
    baseline: str | None = None
    alpha: float | None = None

    @classmethod
    def parse(cls, text: str) -> GateRule:
        found = _RULE.match(text)
        if not found:
            raise GateRuleError(f"invalid gate rule {text!r}: {USAGE}")
        is_delta = found["delta"] is not None
        if not is_delta and (found["baseline"] or found["alpha"]):
            raise GateRuleError(
                f"invalid gate rule {text!r}: 'vs' and 'at p<' apply to delta(...) rules only"
            )
        return cls(
            text=text.strip(),
            metric=found["delta"] or found["metric"],
            op=found["op"],
            threshold=float(found["threshold"]),
            delta=is_delta,
            baseline=found["baseline"],
            alpha=float(found["alpha"]) if found["alpha"] else None,
        )


class GateCheck(Frozen):
    rule: str
    passed: bool
    actual: float | None
    message: str
    p_value: float | None = None
    baseline: str | None = None


class GateReport(Frozen):
    run: str
    passed: bool
    checks: list[GateCheck]


def parse_rules(rules: Sequence[str], *, allow_none: bool = False) -> list[GateRule]:
    if not rules and not allow_none:
        raise GateRuleError(f"give at least one gate rule: {USAGE}")
    return [GateRule.parse(r) for r in rules]


def _check_value(rule: GateRule, run_id: str, aggregates: dict[str, float | None]) -> GateCheck:
    if rule.metric not in aggregates:
        known = ", ".join(sorted(aggregates)) or "none"
        raise GateRuleError(
            f"gate rule {rule.text!r}: run {run_id!r} has no metric {rule.metric!r}; "
            f"it has: {known}"
        )
    actual = aggregates[rule.metric]
    passed = actual is not None and _OPS[rule.op](actual, rule.threshold)
    shown = "undefined" if actual is None else f"{actual:.4g}"
    return GateCheck(
        rule=rule.text,
        passed=passed,
        actual=actual,
        message=f"{rule.metric} = {shown} (needs {rule.op} {rule.threshold:g})",
    )


def _check_delta(rule: GateRule, comparison: Comparison) -> GateCheck:
    metric = comparison.metrics.get(rule.metric)
    if metric is None:
        known = ", ".join(sorted(comparison.metrics)) or "none"
        raise GateRuleError(
            f"gate rule {rule.text!r}: no metric {rule.metric!r} in both runs; shared: {known}"
        )
    delta = metric.delta
    meets = delta is not None and _OPS[rule.op](delta, rule.threshold)
    significant = rule.alpha is None or metric.p_value < rule.alpha
    passed = meets or not significant
    shown = "undefined" if delta is None else f"{delta:+.4g}"
    message = (
        f"delta({rule.metric}) = {shown} vs {comparison.baseline_run} "
        f"(needs {rule.op} {rule.threshold:g}; p = {metric.p_value:.3g}, {metric.test})"
    )
    if not meets and not significant:
        message += f"; not significant at p<{rule.alpha:g}, so it passes"
    return GateCheck(
        rule=rule.text,
        passed=passed,
        actual=delta,
        message=message,
        p_value=metric.p_value,
        baseline=comparison.baseline_run,
    )


def golden_check(repo: EvaluationRepository, run: EvalRun) -> GateCheck:
    """Passes when ``run`` was evaluated on the version ``golden`` points to now."""
    source = run.params.get("source") or {}
    rule = "golden"
    if not run.dataset_version or "dataset" not in source:
        return GateCheck(
            rule=rule,
            passed=False,
            actual=None,
            message=f"run {run.id!r} was not evaluated on a stored dataset; run it on "
            f"'<dataset>@{GOLDEN}' for a golden gate",
        )
    datasets = DatasetRepository(repo.db)
    name = source["dataset"]
    try:
        dataset = datasets.get(run.project_id, name)
    except NotFoundError:
        return GateCheck(
            rule=rule, passed=False, actual=None, message=f"dataset {name!r} no longer exists"
        )
    alias = datasets.alias(dataset.id, GOLDEN)
    if alias is None:
        message = f"dataset {name!r} has no {GOLDEN!r} alias; mark a validated version golden"
        return GateCheck(rule=rule, passed=False, actual=None, message=message)
    golden = datasets.find_version(dataset.id, alias.version_id)
    used = datasets.find_version(dataset.id, run.dataset_version)
    golden_label = f"v{golden.number}" if golden else alias.version_id
    used_label = f"v{used.number}" if used else run.dataset_version
    if alias.version_id != run.dataset_version:
        message = (
            f"run used {name} {used_label}, but {GOLDEN} is {golden_label} "
            f"(moved by {alias.updated_by} at {alias.updated_at:%Y-%m-%d %H:%M} UTC); "
            f"evaluate '{name}@{GOLDEN}'"
        )
        return GateCheck(rule=rule, passed=False, actual=None, message=message)
    return GateCheck(
        rule=rule,
        passed=True,
        actual=None,
        message=f"run used {name} {used_label}, the {GOLDEN} version (as {run.dataset_ref})",
    )


def run_gate(
    repo: EvaluationRepository,
    project_id: str,
    run_id: str,
    rules: Sequence[str],
    *,
    baseline: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    require_golden: bool = False,
) -> GateReport:
    """Check ``rules`` against the stored run; delta rules compare with their baseline;
    ``require_golden`` adds a check that the run was on the golden dataset version."""
    parsed = parse_rules(rules, allow_none=require_golden)
    run = repo.get(project_id, run_id)
    if run.status != "finished":
        raise ValidationError(f"run {run_id!r} is {run.status}; gates need a finished run")
    values = {k: a.value for k, a in run.aggregates.items()}
    comparisons: dict[str, Comparison] = {}
    checks = [golden_check(repo, run)] if require_golden else []
    for rule in parsed:
        if not rule.delta:
            checks.append(_check_value(rule, run_id, values))
            continue
        against = rule.baseline or baseline
        if against is None:
            raise GateRuleError(
                f"gate rule {rule.text!r} needs a baseline run: add 'vs <run>' or --baseline"
            )
        if against not in comparisons:
            comparisons[against] = compare_stored(
                repo, project_id, against, run_id, resamples=resamples
            )
        checks.append(_check_delta(rule, comparisons[against]))
    return GateReport(run=run_id, passed=all(c.passed for c in checks), checks=checks)
