"""Speed of the embedded models against plain scikit-learn doing the bare job.

Baselines in the same run: ``TfidfVectorizer + LogisticRegression`` fitted directly (what a
user would write by hand) for the text model, and ``HashingVectorizer`` alone for the
hashed embedder. The texts are the demo's synthetic tickets.
"""

from __future__ import annotations

import time

from benchlib import save
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from llmloop.demo.tickets import generate_tickets
from llmloop.embedded import HashedEmbedder, TextModel, get_embedder

N = 10_000


def seconds(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    records = generate_tickets(N, seed=1)
    texts = [r.inputs["ticket"] for r in records]
    labels = [r.expectations["intent"] for r in records]  # type: ignore[index]
    rows = []

    baseline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=200))
    t_base = seconds(lambda: baseline.fit(texts, labels))
    model_holder: list[TextModel] = []
    t_ours = seconds(lambda: model_holder.append(TextModel.train(texts, labels)))
    rows.append(
        {
            "task": f"fit text model, {N} tickets",
            "baseline_s": round(t_base, 3),
            "llmloop_s": round(t_ours, 3),
            "ratio": round(t_ours / t_base, 2),
        }
    )
    model = model_holder[0]
    t_base = seconds(lambda: baseline.predict_proba(texts))
    t_ours = seconds(lambda: model.predict(texts))
    rows.append(
        {
            "task": f"predict {N}",
            "baseline_s": round(t_base, 3),
            "llmloop_s": round(t_ours, 3),
            "ratio": round(t_ours / t_base, 2),
        }
    )

    hashing = HashingVectorizer(n_features=2**18)
    embedder = HashedEmbedder()
    embedder.embed(texts[:10])
    t_base = seconds(lambda: hashing.transform(texts))
    t_ours = seconds(lambda: embedder.embed(texts))
    rows.append(
        {
            "task": f"hashed embed {N}",
            "baseline_s": round(t_base, 3),
            "llmloop_s": round(t_ours, 3),
            "ratio": round(t_ours / t_base, 2),
        }
    )
    try:
        minilm = get_embedder("minilm")
    except Exception as exc:  # the minilm extra is optional
        rows.append({"task": "minilm embed", "llmloop_s": f"unavailable: {exc}"})
    else:
        sample = texts[:1000]
        minilm.embed(sample[:8])
        t_ours = seconds(lambda: minilm.embed(sample))
        rows.append(
            {
                "task": "minilm embed 1000 (texts/s)",
                "llmloop_s": round(t_ours, 3),
                "throughput": round(len(sample) / t_ours, 1),
            }
        )
    path = save("embedded_models", rows, notes="ratio = llmloop / baseline (lower is faster).")
    print(path.read_text())


if __name__ == "__main__":
    main()
