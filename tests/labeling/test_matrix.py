from __future__ import annotations

import numpy as np
import pytest

from llmloop.errors import ValidationError
from llmloop.labeling import (
    LabelMatrix,
    LabelModel,
    apply_labeling_functions,
    keyword_lf,
    labeling_function,
)
from llmloop.records import Record, ScoreSourceKind

CLASSES = ["ham", "spam"]


def records(*texts: str) -> list[Record]:
    return [Record(id=f"r{i}", inputs={"text": t}) for i, t in enumerate(texts)]


@labeling_function()
def fragile(record: Record) -> str | None:
    text = record.inputs["text"]
    if "boom" in text:
        raise RuntimeError(f"cannot parse {text!r}")
    return "ham" if "meeting" in text else None


@labeling_function()
def off_schema(record: Record) -> str | None:
    return "eggs" if "eggs" in record.inputs["text"] else None


def test_apply_builds_the_matrix_and_reports_failures() -> None:
    lfs = [keyword_lf("free", ["free"], "spam"), fragile, off_schema]
    rows = records("free offer", "meeting at 3", "boom goes the free parser", "green eggs")
    matrix = apply_labeling_functions(lfs, rows, CLASSES)
    assert matrix.shape == (4, 3)
    assert matrix.values.tolist() == [[1, -1, -1], [-1, 0, -1], [1, -1, -1], [-1, -1, -1]]
    assert matrix.sources == ("free", "fragile", "off_schema")
    assert matrix.record_ids == ("r0", "r1", "r2", "r3")
    assert matrix.failure_counts == {"fragile": 1, "off_schema": 1}
    by_lf = {f.function: f for f in matrix.failures}
    assert by_lf["fragile"].record_id == "r2" and by_lf["fragile"].row == 2
    assert "RuntimeError: cannot parse" in by_lf["fragile"].error
    assert "returned 'eggs', which is not one of the classes" in by_lf["off_schema"].error
    frame = matrix.to_frame()
    assert frame.loc["r0", "free"] == "spam" and frame.loc["r1", "free"] is None


def test_batch_failure_falls_back_to_records_one_by_one() -> None:
    def vote_all(rs: object) -> list[str | None]:
        raise RuntimeError("batch endpoint down")

    base = keyword_lf("kw", ["free"], "spam")
    lf = type(base)(base.name, base.fn, base.kind, base.settings, batch=vote_all)
    matrix = apply_labeling_functions([lf], records("free", "no"), CLASSES)
    assert matrix.values[:, 0].tolist() == [1, -1]
    assert matrix.failures == ()


@pytest.mark.parametrize(
    ("lfs", "rows", "classes", "message"),
    [
        ([], records("a"), CLASSES, "at least one labeling function"),
        ([fragile], [], CLASSES, "at least one record"),
        ([fragile], ["text"], CLASSES, r"positions \[0\] are not records"),
        ([fragile], records("a"), ["ham"], "at least two non-empty class names"),
        ([fragile], records("a"), ["ham", "ham"], "repeated: \\['ham'\\]"),
        ([fragile], records("a"), "ham", "not one string"),
        ([fragile, fragile], records("a"), CLASSES, "repeated: \\['fragile'\\]"),
        ([lambda r: None], records("a"), CLASSES, "@labeling_function"),
    ],
)
def test_bad_input_is_refused(lfs: list, rows: list, classes: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        apply_labeling_functions(lfs, rows, classes)  # type: ignore[arg-type]


def test_from_array_checks_and_to_labels() -> None:
    matrix = LabelMatrix.from_array([[1, -1], [0, 0], [-1, -1]], CLASSES, sources=["a", "b"])
    assert matrix.record_ids == ("0", "1", "2")
    model = LabelModel(2).fit(matrix.values)
    labels = matrix.to_labels(model.predict_proba(matrix.values), field="is_spam")
    assert [lab.value for lab in labels] == ["spam", "ham", labels[2].value]
    assert labels[0].source.kind is ScoreSourceKind.label_model
    assert labels[2].distribution == pytest.approx(
        dict(zip(CLASSES, model.class_balance, strict=False))
    )
    assert sum(labels[1].distribution.values()) == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="probabilities must have shape"):
        matrix.to_labels(np.ones((2, 2)), field="is_spam")
    with pytest.raises(ValidationError, match="must be label_model"):
        matrix.to_labels(model.predict_proba(matrix.values), field="f", source="human:ann")
    with pytest.raises(ValidationError, match="give 2 distinct source names"):
        LabelMatrix.from_array([[0, 1]], CLASSES, sources=["a", "a"])
    with pytest.raises(ValidationError, match="give 1 record ids"):
        LabelMatrix.from_array([[0, 1]], CLASSES, record_ids=["x", "y"])
    with pytest.raises(ValidationError, match="value 3 at row 0, column 1"):
        LabelMatrix.from_array([[0, 3]], CLASSES)
