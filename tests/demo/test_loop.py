"""Chapter 2 end to end with small counts, on SQLite and PostgreSQL: real gateway calls,
feedback, annotation queue, fine-tuning, canary, policy and evaluations.

The invariants are the story's: v2 answers shifted (and Portuguese) tickets better than
v1, the failures reached a queue and a golden version, the policy promoted v2 and the
move is in the audit log, and v2 beats v1 on the held-out golden tickets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmloop.cli import output
from llmloop.cli.demo_loop import print_loop_story
from llmloop.demo import ScenarioOptions, run_scenario
from llmloop.demo.loop import run_loop
from llmloop.demo.loop_results import LoopOptions
from llmloop.embedded import ModelStore
from llmloop.errors import NotFoundError
from llmloop.sdk.client import connect
from llmloop.settings import Settings

CHAPTER_ONE = ScenarioOptions(
    tickets=800,
    shifted_tickets=50,
    live_requests=2,
    embed_references=20,
    embed_queries=10,
    embedding_model="local/hashed-embed",
)
LLMLOOP = str(Path(sys.executable).with_name("llmloop"))
SMALL = LoopOptions(first_wave=500, canary_wave=700, users=80, min_samples=60)


def test_loop_repairs_the_shift_and_reruns(settings: Settings) -> None:
    first = run_scenario(settings, CHAPTER_ONE)
    result = run_loop(settings, SMALL, base_model=first.training.model)

    assert result.base_model == first.training.model == "local/ticket-assistant@1"
    assert result.deployment_versions == {
        "v1": "local/ticket-assistant@1",
        "v2": "local/ticket-assistant@2",
    }
    assert result.first_wave.requests == 500 and result.first_wave.arms == {"v1": 500}
    assert result.first_wave.served_by == {"ticket-assistant@1": 500}
    rated = result.first_wave.thumbs_up + result.first_wave.thumbs_down
    assert rated + result.first_wave.unrated == 500 and result.first_wave.thumbs_down > 0

    review = result.review
    assert review.selected >= review.thumbs_down > 0
    assert review.answers == 2 * review.selected
    assert review.resolved + review.adjudicated == review.selected
    assert review.kappa_mean is not None and 0.4 < review.kappa_mean < 1
    assert review.golden_records == review.selected
    assert review.train_alias_records + review.test_alias_records == review.selected
    assert review.final_label_accuracy > 0.95

    assert result.fine_tune.version == 2 and not result.fine_tune.reused
    assert result.fine_tune.added_examples == review.train_alias_records

    canary = result.canary_wave
    assert set(canary.arms) == {"v1", "v2"} and sum(canary.arms.values()) == 700
    assert canary.accuracy_by_arm["v2"] > canary.accuracy_by_arm["v1"]
    assert canary.pt_accuracy_by_arm["v2"] > canary.pt_accuracy_by_arm["v1"]

    ab = result.ab
    assert ab.verdict == "better" and ab.p_value is not None and ab.p_value < SMALL.alpha
    assert ab.policy_action == "promote v2" and ab.stable_after == "v2"
    assert ab.audit_actor == "policy" and ab.audit_event_id is not None

    evaluation = result.evaluation
    assert evaluation.records == review.test_alias_records
    assert evaluation.candidate_accuracy is not None and evaluation.baseline_accuracy is not None
    assert evaluation.candidate_accuracy > evaluation.baseline_accuracy
    assert set(evaluation.robustness_by_perturbation) == {
        f"consistency[{p}]" for p in SMALL.perturbations
    }

    with connect(settings=settings, project="demo") as client:
        golden = client.datasets.records(review.dataset, "golden")
        assert {r.metadata["validation"] for r in golden} <= {"unanimous", "adjudicated"}
        assert all(r.expectations and r.expectations["intent"] for r in golden)
        events = client.audit.list(object_type="deployment", limit=50)
        assert any(e.actor == "policy" and e.id == ab.audit_event_id for e in events)
        trace = client.traces.get(golden[0].metadata["source_trace_id"])
        assert "deployment:ticket-triage" in trace.trace.tags

    with output.console.capture() as captured:
        print_loop_story(result)
    story = captured.get()
    assert "promote v2" in story and review.queue in story
    assert f"{evaluation.candidate_accuracy * 100:.1f}%" in story

    again = run_loop(settings, SMALL)  # the newest chapter-one model, found by itself
    assert again.base_model == "local/ticket-assistant@1"
    assert again.fine_tune.reused and again.fine_tune.model == result.fine_tune.model
    assert again.deployment_versions == result.deployment_versions
    assert again.review.queue != review.queue
    assert again.ab.stable_after == "v2"
    store = ModelStore.for_data_dir(settings.data_dir)
    assert [m.version for m in store.versions("ticket-assistant")] == [1, 2]


def test_chapter_two_without_chapter_one_says_what_to_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'l.db'}")
    with pytest.raises(NotFoundError, match="llmloop demo --chapter 1"):
        run_loop(settings, SMALL)


def test_cli_chapter_two_without_a_model_exits_with_the_fix(tmp_path: Path) -> None:
    env = {**os.environ, "LLMLOOP_DATA_DIR": str(tmp_path)}
    env.pop("LLMLOOP_SERVER_URL", None)
    done = subprocess.run(
        [LLMLOOP, "demo", "--chapter", "2", "--no-serve", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "llmloop demo --chapter 1" in done.stderr and done.stdout == ""
