"""The demo's second chapter told with its figures: feedback, review, v2, canary, evidence."""

from __future__ import annotations

from rich.table import Table

from llmloop.cli.output import console
from llmloop.demo.loop_results import LoopResult, WaveFigures

SIM = "[yellow](simulated)[/yellow]"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}"


def print_loop_story(result: LoopResult) -> None:
    """Chapter two as a short story with its figures, for people."""
    console.print()
    console.print(f"[bold]llmloop demo[/bold] · chapter {result.chapter}")
    console.print(
        f"[dim]project {result.project} · data dir {result.data_dir} · {result.seconds:.1f} s[/dim]"
    )
    _deploy(result)
    _wave("7. Shifted traffic on v1", result.first_wave, result)
    _review(result)
    _fine_tune(result)
    _wave("10. Canary", result.canary_wave, result)
    _ab(result)
    _evaluation(result)
    console.print("\n[bold]Simulated in this run[/bold]")
    for item in result.simulated:
        console.print(f"  · {item}", highlight=False)


def _deploy(result: LoopResult) -> None:
    o = result.options
    console.print(
        f"\n[bold]6. Deployment[/bold] — prompt {result.prompt_version} (production) and "
        f"deployment {o.deployment}: "
        + ", ".join(f"{v} → {m}" for v, m in result.deployment_versions.items()),
        highlight=False,
    )
    console.print(f"  requests go through the {result.traffic_path}", highlight=False)


def _wave(title: str, wave: WaveFigures, result: LoopResult) -> None:
    console.print(
        f"\n[bold]{title}[/bold] {SIM} — {wave.requests:,} shifted tickets from "
        f"{result.options.users} simulated users in {wave.seconds:.1f} s; gateway latency "
        f"p50 {wave.latency_ms_p50:.1f} ms, p95 {wave.latency_ms_p95:.1f} ms",
        highlight=False,
    )
    table = Table(header_style="bold")
    for column in ("arm", "model", "requests", "accuracy", "accuracy pt"):
        table.add_column(column, justify="left" if column in ("arm", "model") else "right")
    for arm, count in wave.arms.items():
        model = result.deployment_versions.get(arm, "?")
        table.add_row(
            arm, model, str(count), _pct(wave.accuracy_by_arm.get(arm)),
            _pct(wave.pt_accuracy_by_arm.get(arm)),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"  feedback {SIM}: {wave.thumbs_up:,} thumbs up, {wave.thumbs_down:,} down, "
        f"{wave.unrated:,} not rated",
        highlight=False,
    )


def _review(result: LoopResult) -> None:
    r = result.review
    console.print(
        f"\n[bold]8. Review[/bold] — {r.selected} answers to check ({r.thumbs_down} thumbs "
        f"down, {r.low_confidence} below {result.options.low_confidence:.0%} confidence, "
        f"{r.both} both) committed as {r.dataset} {r.dataset_version} and queued in {r.queue}",
        highlight=False,
    )
    annotators = ", ".join(f"{k} right on {_pct(v)}" for k, v in r.annotators.items())
    console.print(
        f"  {r.answers} answers from two annotators {SIM} ({annotators})\n"
        f"  agreement: {_pct(r.percent_agreement)} of items, Cohen's kappa "
        f"{_num(r.kappa_mean)}, Krippendorff's alpha {_num(r.alpha)}\n"
        f"  {r.resolved} settled by agreement, {r.disputed} disputes adjudicated {SIM}; "
        f"final labels right on {_pct(r.final_label_accuracy)}\n"
        f"  promoted into golden ({r.dataset} {r.golden_version}, {r.golden_records} records), "
        f"split into train ({r.train_alias_records}) and test ({r.test_alias_records})",
        highlight=False,
    )


def _fine_tune(result: LoopResult) -> None:
    f = result.fine_tune
    if f.reused:
        how = "reused: a saved version was fine-tuned on exactly these examples"
    else:
        how = f"fine-tuned in {f.seconds:.1f} s, audited as model.train {f.audit_event_id}"
    console.print(
        f"\n[bold]9. Triage v{f.version}[/bold] — {f.model}: {f.base} plus "
        f"{f.added_examples} reviewed tickets ({f.training_size:,} examples); {how}",
        highlight=False,
    )


def _ab(result: LoopResult) -> None:
    ab = result.ab
    split = ", ".join(f"{k} {v * 100:.0f}%" for k, v in ab.split.items())
    console.print(
        f"\n[bold]11. A/B and policy[/bold] — split {split}, sticky by {ab.sticky_by}; "
        f"metric: end-user {ab.metric} (share up)",
        highlight=False,
    )
    for arm in ab.arms:
        console.print(
            f"  {arm.arm} ({arm.model}): {arm.requests} requests, {arm.thumbs_n} rated, "
            f"{_pct(arm.thumbs_up_rate)} thumbs up",
            highlight=False,
        )
    if ab.diff is not None:
        console.print(
            f"  difference {ab.diff * 100:+.1f} points, 95% CI [{_pct(ab.ci_low)}, "
            f"{_pct(ab.ci_high)}], p={ab.p_value:.2g}: [bold]{ab.verdict}[/bold]",
            highlight=False,
        )
    if ab.policy_action:
        console.print(
            f"  policy: [bold]{ab.policy_action}[/bold]; stable is now {ab.stable_after}; "
            f"audit event {ab.audit_event_id} by {ab.audit_actor}:\n  {ab.policy_reason}",
            highlight=False,
        )
    else:
        console.print(
            f"  policy: no move (not significant yet); stable stays {ab.stable_after}",
            highlight=False,
        )


def _evaluation(result: LoopResult) -> None:
    e = result.evaluation
    console.print(
        f"\n[bold]12. Evidence[/bold] — v1 and v2 on {e.dataset}: {e.records} reviewed "
        "tickets v2 never trained on",
        highlight=False,
    )
    if e.delta is not None:
        console.print(
            f"  accuracy {_pct(e.baseline_accuracy)} → [bold]{_pct(e.candidate_accuracy)}"
            f"[/bold] ({e.delta * 100:+.1f} points, CI [{_points(e.ci_low)}, "
            f"{_points(e.ci_high)}], {e.test} p={_p(e.p_value)}; "
            f"{e.fixed} fixed, {e.broken} broken)",
            highlight=False,
        )
    shown = ", ".join(
        f"{k.removeprefix('consistency[').rstrip(']')} {_pct(v)}"
        for k, v in e.robustness_by_perturbation.items()
    )
    console.print(
        f"  robustness of v2: answer unchanged on {_pct(e.robustness.get('consistency'))} "
        f"of perturbed tickets ({shown}); run {e.robustness_run}",
        highlight=False,
    )
