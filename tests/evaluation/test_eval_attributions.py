"""Interpretability: a local model's per-feature attributions are stored with each record."""

from __future__ import annotations

from test_suites_api import LABEL, save_model, sentiment_records

import llmloop
from llmloop.evaluation import ModelTarget
from llmloop.runtime import Runtime
from llmloop.store.evaluations import EvaluationRepository


def test_attributions_of_a_local_model_are_stored_per_record(runtime: Runtime) -> None:
    save_model(runtime.settings.data_dir)
    target = ModelTarget("local/sentiment", prompt="{text}", params={"explain": 4})
    run = llmloop.evaluate(target, sentiment_records(12, seed=3), [LABEL], runtime=runtime)
    results = EvaluationRepository(runtime.db).results(run.project_id, run.id)
    assert len(results) == 12
    for result in results:
        assert result.outputs is not None
        attributions = result.outputs["attributions"]
        assert 1 <= len(attributions) <= 4
        assert all(a["contribution"] > 0 for a in attributions)
        assert {"feature", "kind", "weight", "value", "contribution"} <= set(attributions[0])
