"""The demo's second chapter: production feedback repairs the model, with evidence.

1. Register a prompt and the deployment ``ticket-triage`` whose v1 binds the chapter-one
   model (``local/ticket-assistant@<n>``).
2. Send shifted tickets through the OpenAI-compatible gateway (``/v1/chat/completions``,
   the official ``openai`` SDK over the in-process app); simulated users give thumbs
   up or down on each answer through the feedback API (down when the triage is wrong).
3. Thumbs-down and low-confidence answers become records of a review dataset and an
   annotation queue; two simulated annotators label them, agreement is measured,
   disputes are adjudicated with the true intent, and the settled labels are promoted
   into the ``golden`` alias, then split into ``train`` and ``test`` halves.
4. Fine-tune v2 on the ``train`` half (a new immutable model version), add deployment
   version v2 as a sticky 50/50 canary, send more shifted traffic with feedback, read
   the A/B report and let the auto-promote policy decide (audited as actor ``policy``).
5. Compare v1 and v2 on the ``test`` half of the golden set (paired: McNemar), and run a
   short robustness suite on v2.

Everything goes through the public SDK (``llmloop.connect``-style client on the local
store) and the gateway, as an application would. Re-running is idempotent for the
models: v2 is reused when a saved version was fine-tuned on exactly the same examples.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import orjson

from llmloop.annotation.golden import PromoteOutcome
from llmloop.data.datasets import SplitOutcome
from llmloop.demo.loop_results import (
    ABFigures,
    ArmFigures,
    EvalFigures,
    FineTuneFigures,
    LoopOptions,
    LoopResult,
    ReviewFigures,
    WaveFigures,
)
from llmloop.demo.phrases import INTENTS
from llmloop.demo.scenario import ACTOR, Progress
from llmloop.demo.tickets import generate_shifted, model_text
from llmloop.embedded import ModelStore, TextModel
from llmloop.errors import NotFoundError, ValidationError
from llmloop.records import Record, Role
from llmloop.sdk.client import Client
from llmloop.sdk.connection import LOCAL_BASE_URL, Local, resolve
from llmloop.sdk.transport import InProcessTransport
from llmloop.settings import Settings, get_settings
from llmloop.store.annotation_types import Item

GATEWAY_KEY_NAME = "demo-gateway"
PAGE = 500
CHAPTER_ONE_DESCRIPTION = "llmloop demo chapter 1:"
TRAFFIC_PATH = (
    "gateway: POST /v1/chat/completions (OpenAI wire format, model "
    "deployment/{deployment}, bearer key) to the in-process app over an httpx transport"
)
SYSTEM_PROMPT = "You triage support tickets for Lumio. Classify the ticket's intent."
CLASSIFY = {"kind": "classification", "config": {"expected_field": "intent"}}
SIMULATED = [
    "traffic: synthetic shifted tickets (llmloop.demo.tickets), sent by simulated users",
    "end-user feedback: simulated users rate a share of answers; thumbs down when the "
    "triage is wrong",
    "annotators: two simulated annotators, right with a set probability, else a random intent",
    "adjudication: a simulated adjudicator who knows the generator's true intent",
    "the feedback rate limit is off in this run: all simulated users share one address",
]


@dataclass(frozen=True, slots=True)
class _Served:
    """One answered request and what is known about it."""

    record: Record
    user: str
    trace_id: str
    arm: str
    model: str
    label: str
    probability: float
    latency_ms: float
    thumbs: bool | None

    @property
    def correct(self) -> bool:
        return self.label == _intent(self.record)


@dataclass
class _Conn:
    local: Local
    client: Client
    gateway: httpx.Client

    def close(self) -> None:
        self.gateway.close()
        self.client.close()  # closes the runtime too


class _Quiet:
    def step(self, title: str) -> AbstractContextManager[object]:
        return nullcontext()


def _intent(record: Record) -> str:
    return str((record.expectations or {})["intent"])


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def run_loop(
    settings: Settings | None = None,
    options: LoopOptions | None = None,
    *,
    base_model: str | None = None,
    progress: Progress | None = None,
) -> LoopResult:
    """Run chapter 2 on ``base_model`` (default: the newest chapter-one model)."""
    settings = settings or get_settings()
    options = options or LoopOptions()
    steps = progress or _Quiet()
    started = time.perf_counter()
    store = ModelStore.for_data_dir(settings.data_dir)
    base = base_model or _chapter_one_model(store)
    conn = _connect(settings, options)
    try:
        with steps.step(f"Deploying {base} as {options.deployment} v1"):
            prompt_version, v1 = _setup(conn.client, options, base)
        rng = random.Random(options.seed)
        tickets = generate_shifted(options.first_wave + options.canary_wave, seed=options.seed + 1)
        first_tickets, canary_tickets = (
            tickets[: options.first_wave],
            tickets[options.first_wave :],
        )
        with steps.step(f"Serving {options.first_wave} shifted requests through the gateway"):
            first, served = _wave(conn, first_tickets, options, rng)
        with steps.step("Reviewing failures: queue, two annotators, adjudication, golden"):
            review, train, test = _review(conn.client, served, options)
        with steps.step(f"Fine-tuning {base} on {len(train)} reviewed tickets"):
            tuned = _fine_tune(conn, store, base, train, options)
        with steps.step(f"Canary of v2 ({options.canary_share}%), {options.canary_wave} requests"):
            v2 = _canary(conn.client, options, tuned.model)
            canary, canary_served = _wave(conn, canary_tickets, options, rng)
        with steps.step("A/B analysis and the auto-promote policy"):
            ab = _ab(conn.client, options, {v1: base, v2: tuned.model}, canary_served)
        with steps.step("Evaluating v1 and v2 on the golden test half; robustness of v2"):
            evaluation = _evaluate(conn.client, options, base, tuned.model, test)
    finally:
        conn.close()
    return LoopResult(
        project=options.project,
        data_dir=str(settings.data_dir),
        options=options,
        traffic_path=TRAFFIC_PATH.format(deployment=options.deployment),
        base_model=base,
        deployment_versions={v1: base, v2: tuned.model},
        prompt_version=prompt_version,
        first_wave=first,
        review=review,
        fine_tune=tuned,
        canary_wave=canary,
        ab=ab,
        evaluation=evaluation,
        simulated=SIMULATED,
        seconds=round(time.perf_counter() - started, 2),
    )


# --------------------------------------------------------------------------- setup


def _chapter_one_model(store: ModelStore) -> str:
    """The newest version of any model chapter one saved."""
    found = [
        m
        for name in store.names()
        for m in store.versions(name)
        if m.description.startswith(CHAPTER_ONE_DESCRIPTION)
    ]
    if not found:
        raise NotFoundError(
            "chapter two needs the triage model of chapter one, and this data dir has none: "
            "run 'llmloop demo --chapter 1' (or the whole demo) first"
        )
    newest = max(found, key=lambda m: m.created_at)
    return f"local/{newest.ref}"


def _connect(settings: Settings, options: LoopOptions) -> _Conn:
    """An SDK client on the local store, and an openai client for the same app's gateway."""
    # The simulated users share one key and one address: the per-address feedback limit
    # (meant for browsers) would throttle them all as one.
    settings = settings.model_copy(update={"feedback_per_minute": 0})
    settings = settings.model_copy(update={"server_url": None})  # always the local store
    local = resolve(settings, None, None, options.project)
    if not isinstance(local, Local):  # pragma: no cover - no server URL was given
        raise TypeError("the demo runs on the local store")
    transport = InProcessTransport(local.app, on_close=local.runtime.providers.aclose)
    http = httpx.Client(
        base_url=LOCAL_BASE_URL, transport=transport, timeout=settings.request_timeout_s
    )
    client = Client(http, local.project, runtime=local.runtime)
    try:
        secret = _gateway_key(local)
        gateway = httpx.Client(
            base_url=LOCAL_BASE_URL,
            transport=InProcessTransport(local.app),
            headers={"Authorization": f"Bearer {secret}"},
            timeout=settings.request_timeout_s,
        )
    except BaseException:
        client.close()
        raise
    return _Conn(local=local, client=client, gateway=gateway)


def _gateway_key(local: Local) -> str:
    """A fresh editor key for the gateway calls; the previous run's key is revoked."""
    tenancy = local.runtime.tenancy
    project = tenancy.ensure_project(local.project, actor=ACTOR)
    for key in tenancy.keys.list(project.id):
        if key.name == GATEWAY_KEY_NAME:
            tenancy.revoke_key(project.id, key.id, actor=ACTOR, reason="llmloop demo re-run")
    _, secret = tenancy.create_key(project.id, GATEWAY_KEY_NAME, Role.editor, actor=ACTOR)
    return secret


def _setup(client: Client, options: LoopOptions, base: str) -> tuple[str, str]:
    """The prompt and the deployment with ``base`` as stable version; (prompt v, arm)."""
    created = client.prompts.create(
        options.prompt,
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "{{ subject }}\n{{ ticket }}"},
        ],
        variables=[{"name": "subject", "default": ""}, {"name": "ticket"}],
        params={"response_format": {"type": "json_object"}},
        labels=["production"],
    )
    v1 = _version_for(client, options, base)
    summary = client.deployments.get(options.deployment)
    if summary.stable is None or summary.stable.id != v1.id or summary.arms.keys() - {v1.label}:
        client.deployments.promote(
            options.deployment, v1.label, reason=f"llmloop demo, chapter 2: start from {base}"
        )
    return f"{options.prompt} v{created.version.number}", v1.label


@dataclass(frozen=True, slots=True)
class _Version:
    id: str
    label: str


def _version_for(client: Client, options: LoopOptions, model: str) -> _Version:
    """The deployment version serving ``model`` with this prompt; created when missing."""
    prompt = client.prompts.version(options.prompt, "production")
    try:
        versions = client.deployments.versions(options.deployment)
    except NotFoundError:
        versions = []
    for version in versions:
        if version.model == model and version.prompt_version_id == prompt.id:
            return _Version(version.id, f"v{version.number}")
    created = client.deployments.create(
        options.deployment,
        model,
        prompt=options.prompt,
        prompt_version="production",
        message=f"llmloop demo, chapter 2: {model}",
    )
    return _Version(created.id, f"v{created.number}")


# --------------------------------------------------------------------------- traffic


def _ask(
    conn: _Conn, options: LoopOptions, record: Record, user: str
) -> tuple[httpx.Response, float]:
    """One chat completion of the deployment, its prompt rendered from the ticket."""
    started = time.perf_counter()
    response = conn.gateway.post(
        "/v1/chat/completions",
        json={
            "model": f"deployment/{options.deployment}",
            "messages": [],
            "user": user,
            "variables": {
                "subject": str(record.inputs.get("subject", "")),
                "ticket": str(record.inputs["ticket"]),
            },
        },
    )
    latency = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise ValidationError(
            f"the gateway answered {response.status_code} for ticket {record.id}: "
            f"{response.text[:300]}"
        )
    return response, latency


def _wave(
    conn: _Conn, tickets: Sequence[Record], options: LoopOptions, rng: random.Random
) -> tuple[WaveFigures, list[_Served]]:
    """Send ``tickets`` through the gateway, then post the simulated users' feedback."""
    started = time.perf_counter()
    served: list[_Served] = []
    for record in tickets:
        user = f"user-{rng.randrange(options.users):03d}"
        raw, latency = _ask(conn, options, record, user)
        completion = orjson.loads(raw.content)
        answer = orjson.loads(completion["choices"][0]["message"]["content"] or "{}")
        rates = rng.random() < options.feedback_rate
        label = str(answer.get("label"))
        served.append(
            _Served(
                record=record,
                user=user,
                trace_id=raw.headers["x-llmloop-trace-id"],
                arm=raw.headers.get("x-llmloop-arm", ""),
                model=str(completion["model"]),
                label=label,
                probability=float(answer.get("probability", 0.0)),
                latency_ms=latency,
                thumbs=(label == _intent(record)) if rates else None,
            )
        )
    _feedback(conn.client, served)
    return _wave_figures(served, started), served


def _feedback(client: Client, served: Sequence[_Served], wait_s: float = 30.0) -> None:
    """Post each rating; traces are written in batches, so wait for the last one first."""
    deadline = time.monotonic() + wait_s
    while served:
        try:
            client.traces.get(served[-1].trace_id)
            break
        except NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    for call in served:
        if call.thumbs is not None:
            client.traces.feedback(call.trace_id, call.thumbs, name="thumbs", user_id=call.user)


def _rate(calls: Sequence[_Served]) -> float:
    return round(float(np.mean([c.correct for c in calls])), 4) if calls else 0.0


def _wave_figures(served: Sequence[_Served], started: float) -> WaveFigures:
    arms = Counter(c.arm for c in served)
    by_arm = {arm: [c for c in served if c.arm == arm] for arm in sorted(arms)}
    latencies = np.array([c.latency_ms for c in served])
    return WaveFigures(
        requests=len(served),
        served_by=dict(Counter(c.model for c in served).most_common()),
        arms=dict(sorted(arms.items())),
        accuracy_by_arm={arm: _rate(calls) for arm, calls in by_arm.items()},
        pt_accuracy_by_arm={
            arm: _rate([c for c in calls if c.record.metadata.get("language") == "pt"])
            for arm, calls in by_arm.items()
        },
        thumbs_up=sum(c.thumbs is True for c in served),
        thumbs_down=sum(c.thumbs is False for c in served),
        unrated=sum(c.thumbs is None for c in served),
        latency_ms_p50=round(float(np.percentile(latencies, 50)), 2),
        latency_ms_p95=round(float(np.percentile(latencies, 95)), 2),
        seconds=_since(started),
    )


# --------------------------------------------------------------------------- review


def _why(call: _Served, options: LoopOptions) -> str:
    reasons = []
    if call.thumbs is False:
        reasons.append("thumbs-down")
    if call.probability < options.low_confidence:
        reasons.append("low-confidence")
    return "+".join(reasons)


def _review_record(call: _Served, options: LoopOptions) -> Record:
    """The ticket as annotators see it: no intent, the model's answer as a hint."""
    return Record(
        id=call.record.id,
        inputs=dict(call.record.inputs),
        outputs={"label": call.label, "probability": round(call.probability, 4)},
        metadata={
            "language": call.record.metadata.get("language"),
            "product": call.record.metadata.get("product"),
            "source_trace_id": call.trace_id,
            "model": call.model,
            "review_reason": _why(call, options),
        },
        source=call.record.source,
    )


def _annotate(
    client: Client, queue: str, truth: dict[str, str], options: LoopOptions
) -> dict[str, float]:
    """Each simulated annotator answers every item: right with its accuracy, else noise."""
    accuracy: dict[str, float] = {}
    for index, rate in enumerate(options.annotator_accuracy):
        name = f"annotator-{'ab'[index] if index < 2 else index}"
        right = total = 0
        while (item := client.queues.next(queue, name)) is not None:
            record_id = str(item.ref.record_id)
            rng = random.Random(f"{options.seed}:{name}:{record_id}")
            answer = truth[record_id]
            if rng.random() >= rate:
                answer = rng.choice([i for i in INTENTS if i != answer])
            client.queues.submit(queue, item.id, answer, annotator=name)
            right += answer == truth[record_id]
            total += 1
        accuracy[name] = round(right / total, 4) if total else 0.0
    return accuracy


def _queue_name(client: Client, options: LoopOptions) -> str:
    taken = {q.queue.name for q in client.queues.list()}
    number = 1
    while f"{options.queue_prefix}-{number}" in taken:
        number += 1
    return f"{options.queue_prefix}-{number}"


def _items(client: Client, queue: str, status: str | None = None) -> list[Item]:
    found: list[Item] = []
    while True:
        page = client.queues.items(queue, status=status, offset=len(found), limit=PAGE)
        found.extend(view.item for view in page.items)
        if len(page.items) < PAGE:
            return found


def _settle(
    client: Client, queue: str, truth: dict[str, str], options: LoopOptions
) -> tuple[int, PromoteOutcome, SplitOutcome]:
    """Adjudicate the disputes, promote into golden, split golden into train and test."""
    disputed = _items(client, queue, "disputed")
    for item in disputed:
        client.queues.adjudicate(
            queue,
            item.id,
            truth[str(item.ref.record_id)],
            reason="simulated adjudicator: the generator's true intent",
        )
    outcome = client.queues.promote(queue, message="llmloop demo, chapter 2: reviewed failures")
    split = client.datasets.split(
        options.review_dataset,
        version="golden",
        fractions={"train": options.train_share, "test": round(1 - options.train_share, 6)},
        stratify="metadata.language",
        seed=options.seed,
        save=True,
    )
    return len(disputed), outcome, split


def _review(
    client: Client, served: Sequence[_Served], options: LoopOptions
) -> tuple[ReviewFigures, list[Record], list[Record]]:
    """Failures -> review dataset -> queue -> two annotators -> adjudication -> golden."""
    started = time.perf_counter()
    picked = [c for c in served if _why(c, options)]
    if not picked:
        raise ValidationError("no thumbs-down or low-confidence answer to review: more traffic")
    truth = {c.record.id: _intent(c.record) for c in picked}
    commit = client.datasets.commit(
        options.review_dataset,
        [_review_record(c, options) for c in picked],
        message="llmloop demo, chapter 2: thumbs-down and low-confidence answers",
        create=True,
    )
    schema = {
        "kind": "classes",
        "classes": list(INTENTS),
        "field": "intent",
        "instructions": "The customer's intent; the model's answer is in outputs.",
    }
    queue = _queue_name(client, options)
    client.queues.create(
        queue,
        schema,
        dataset=options.review_dataset,
        version=commit.version.id,
        required=len(options.annotator_accuracy),
        description="Thumbs-down and low-confidence answers of ticket-triage",
    )
    annotators = _annotate(client, queue, truth, options)
    agreement = client.queues.agreement(queue)
    disputed, outcome, split = _settle(client, queue, truth, options)
    golden = client.datasets.records(options.review_dataset, "golden")
    train = client.datasets.records(options.review_dataset, "train")
    test = client.datasets.records(options.review_dataset, "test")
    settled_right = [
        (r.expectations or {}).get("intent") == truth[r.id] for r in golden if r.id in truth
    ]
    statuses = Counter(item.status for item in _items(client, queue))
    figures = ReviewFigures(
        dataset=options.review_dataset,
        dataset_version=commit.version.label,
        queue=queue,
        selected=len(picked),
        thumbs_down=sum(c.thumbs is False for c in picked),
        low_confidence=sum(c.probability < options.low_confidence for c in picked),
        both=sum(_why(c, options) == "thumbs-down+low-confidence" for c in picked),
        annotators=annotators,
        answers=sum(a.answered for a in agreement.annotators),
        percent_agreement=agreement.percent_agreement,
        kappa_mean=agreement.kappa_mean,
        alpha=agreement.alpha,
        resolved=statuses.get("resolved", 0),
        disputed=disputed,
        adjudicated=statuses.get("adjudicated", 0),
        final_label_accuracy=round(float(np.mean(settled_right)), 4) if settled_right else 0.0,
        golden_version=outcome.commit.version.label,
        golden_records=len(golden),
        train_alias_records=len(split.split.parts.get("train", [])),
        test_alias_records=len(split.split.parts.get("test", [])),
        seconds=_since(started),
    )
    return figures, train, test


# --------------------------------------------------------------------------- fine-tuning


def _examples(records: Sequence[Record]) -> tuple[list[str], list[str]]:
    labelled = [r for r in records if (r.expectations or {}).get("intent")]
    return [model_text(r) for r in labelled], [str(r.expectations["intent"]) for r in labelled]  # type: ignore[index]


def _fine_tune(
    conn: _Conn, store: ModelStore, base: str, train: Sequence[Record], options: LoopOptions
) -> FineTuneFigures:
    """v2 = base fine-tuned on the reviewed ``train`` half; reused when already saved."""
    name, _, version = base.removeprefix("local/").partition("@")
    loaded = store.load(name, store.resolve(name, version or "latest"))
    if not isinstance(loaded.model, TextModel):
        raise ValidationError(f"{base} is not a text model: chapter two fine-tunes one")
    texts, labels = _examples(train)
    description = (
        f"llmloop demo chapter 2: {base} fine-tuned on {len(texts)} reviewed tickets "
        f"({options.review_dataset}@train)"
    )
    wanted = loaded.model.training_examples() + list(zip(texts, labels, strict=True))
    for manifest in reversed(store.versions(name)):
        if manifest.description == description and manifest.training_size == len(wanted):
            again = store.load(name, manifest.version)
            if isinstance(again.model, TextModel) and again.model.training_examples() == wanted:
                return FineTuneFigures(
                    base=base, model=f"local/{manifest.ref}", version=manifest.version,
                    reused=True, added_examples=len(texts), training_size=len(wanted),
                    seconds=None, audit_event_id=None,
                )  # fmt: skip
    started = time.perf_counter()
    tuned = loaded.model.fine_tune(texts, labels)
    seconds = _since(started)
    manifest = store.save(
        name, tuned, metrics={"added_examples": len(texts)}, description=description
    )
    project = conn.local.runtime.tenancy.ensure_project(options.project, actor=ACTOR)
    event = conn.local.runtime.tenancy.audit.record(
        project.id,
        actor=ACTOR,
        action="model.train",
        object_type="model",
        object_id=f"local/{manifest.ref}",
        reason="llmloop demo, chapter 2: triage v2 fine-tuned on reviewed failures",
        data={
            "base": base,
            "added_examples": len(texts),
            "training_size": manifest.training_size,
            "dataset": f"{options.review_dataset}@train",
        },
    )
    return FineTuneFigures(
        base=base, model=f"local/{manifest.ref}", version=manifest.version, reused=False,
        added_examples=len(texts), training_size=manifest.training_size, seconds=seconds,
        audit_event_id=event.id,
    )  # fmt: skip


# --------------------------------------------------------------------------- canary


def _canary(client: Client, options: LoopOptions, model: str) -> str:
    """Deployment version for ``model``, as a sticky canary with a promote policy."""
    v2 = _version_for(client, options, model)
    client.deployments.split(
        options.deployment,
        {"stable": 100 - options.canary_share, v2.label: options.canary_share},
        sticky_by="user",
        reason=f"llmloop demo, chapter 2: canary of {model}",
    )
    client.deployments.set_policy(
        options.deployment,
        auto_rollback=True,
        auto_promote=True,
        alpha=options.alpha,
        min_samples=options.min_samples,
        metrics=["thumbs"],
    )
    return v2.label


def _ab(
    client: Client, options: LoopOptions, models: dict[str, str], served: Sequence[_Served]
) -> ABFigures:
    report = client.deployments.ab(options.deployment, alpha=options.alpha)
    summary = client.deployments.get(options.deployment)
    split = dict(summary.arms)
    actions = [
        a for a in client.deployments.evaluate_policies() if a.deployment == options.deployment
    ]
    comparison = next((c for c in report.comparisons if c.metric == "score:thumbs"), None)
    after = client.deployments.get(options.deployment)
    stable = f"v{after.stable.number}" if after.stable is not None else "-"
    audit = None
    if actions:
        events = client.audit.list(object_type="deployment", limit=20)
        audit = next((e for e in events if e.actor == "policy"), None)
    arms = []
    for arm in report.arms:
        thumbs = arm.scores.get("thumbs")
        arms.append(
            ArmFigures(
                arm=arm.arm,
                model=models.get(arm.arm, "?"),
                requests=arm.requests,
                thumbs_n=thumbs.n if thumbs else 0,
                thumbs_up_rate=round(thumbs.mean, 4) if thumbs else None,
            )
        )
    return ABFigures(
        deployment=options.deployment,
        split=split,
        sticky_by="user",
        arms=arms,
        metric="thumbs",
        control_value=comparison.control_value if comparison else None,
        candidate_value=comparison.arm_value if comparison else None,
        diff=comparison.diff if comparison else None,
        ci_low=comparison.ci_low if comparison else None,
        ci_high=comparison.ci_high if comparison else None,
        p_value=comparison.p_value if comparison else None,
        verdict=comparison.verdict if comparison else None,
        policy_action=f"{actions[0].action} {actions[0].arm}" if actions else None,
        policy_reason=actions[0].reason if actions else None,
        stable_after=stable,
        audit_event_id=audit.id if audit else None,
        audit_actor=audit.actor if audit else None,
    )


# --------------------------------------------------------------------------- evaluation


def _evaluate(
    client: Client, options: LoopOptions, base: str, candidate: str, test: Sequence[Record]
) -> EvalFigures:
    dataset = f"{options.review_dataset}@test"
    prompt = "{subject}\n{ticket}"
    runs = [
        client.evaluations.run(model, dataset, [CLASSIFY], prompt=prompt, name=f"demo {model}")
        for model in (base, candidate)
    ]
    comparison = client.evaluations.compare(runs[0].id, runs[1].id)
    delta = comparison.metrics.get("correct")
    robust = client.suites.robustness(
        candidate,
        list(test),
        [CLASSIFY],
        field="ticket",
        prompt=prompt,
        perturbations=list(options.perturbations),
        seed=options.seed,
        name=f"demo robustness {candidate}",
    )
    return EvalFigures(
        dataset=dataset,
        records=comparison.n_paired,
        baseline_run=runs[0].id,
        candidate_run=runs[1].id,
        baseline_accuracy=_aggregate(runs[0].aggregates, "accuracy"),
        candidate_accuracy=_aggregate(runs[1].aggregates, "accuracy"),
        delta=delta.delta if delta else None,
        ci_low=delta.low if delta else None,
        ci_high=delta.high if delta else None,
        p_value=delta.p_value if delta else None,
        test=delta.test if delta else None,
        fixed=delta.fixed if delta else None,
        broken=delta.broken if delta else None,
        robustness_run=robust.run_id,
        robustness={k: m.value for k, m in robust.metrics.items() if "[" not in k},
        robustness_by_perturbation={
            k: m.value for k, m in robust.metrics.items() if k.startswith("consistency[")
        },
    )


def _aggregate(aggregates: dict[str, Any], name: str) -> float | None:
    value = getattr(aggregates.get(name), "value", None)
    return round(float(value), 4) if isinstance(value, int | float) else None
