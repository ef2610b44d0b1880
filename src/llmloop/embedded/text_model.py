"""A small trainable text model: TF-IDF n-grams and logistic regression.

It classifies short texts (ticket intents, languages, topics) and answers chat requests
with a reply template per label. Everything is scikit-learn, fast to train on a laptop
(10,000 short texts in a few seconds) and interpretable: :meth:`TextModel.explain`
lists the n-grams that pushed a prediction, as coefficient x TF-IDF value.

A fitted model is never changed in place. :meth:`TextModel.fine_tune` returns a NEW model
refitted from scratch on the old training set plus the new examples, so new labels are
learnt, old examples are not forgotten and the result does not depend on the order of
updates. The cost is a full refit (seconds at this size), which is why the training set
travels with the model.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion

from llmloop.errors import ConflictError, ValidationError

_WORD_PATTERN = r"(?u)\b\w+\b"
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class TextModelConfig:
    """Features and classifier settings (recorded in every saved version's manifest)."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 1
    max_features: int | None = 200_000
    C: float = 10.0
    max_iter: int = 1000
    class_weight: Literal["balanced"] | None = None

    def __post_init__(self) -> None:
        for name, (low, high) in (
            ("word_ngrams", self.word_ngrams),
            ("char_ngrams", self.char_ngrams),
        ):
            if not 1 <= low <= high:
                raise ValidationError(f"{name}=({low}, {high}): need 1 <= low <= high")
        if self.C <= 0:
            raise ValidationError(f"C={self.C}: the inverse regularisation must be > 0")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Prediction(_Frozen):
    """The most likely label, its probability and every label's probability."""

    label: str
    probability: float
    probabilities: dict[str, float]


class Attribution(_Frozen):
    """One n-gram's push towards a label: ``contribution = weight * value``."""

    feature: str
    kind: Literal["word", "char"]
    value: float
    weight: float
    contribution: float


class Reply(_Frozen):
    """A chat answer: the prediction and the reply text (rendered template, or JSON)."""

    label: str
    probability: float
    probabilities: dict[str, float]
    text: str
    templated: bool


def _check_template(label: str, template: str) -> None:
    try:
        fields = [f for _, f, _, _ in _FORMATTER.parse(template) if f is not None]
    except ValueError as exc:
        raise ValidationError(
            f"reply template for label {label!r} is not a valid format string ({exc}): "
            "write variables as {name} and literal braces as {{ }}"
        ) from None
    for field in fields:
        if not field.isidentifier():
            raise ValidationError(
                f"reply template for label {label!r} uses {{{field}}}: only plain names "
                "such as {name} are allowed (no positions, attributes or indexes)"
            )


def _check_examples(texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    if isinstance(texts, str) or isinstance(labels, str):
        raise ValidationError("texts and labels must be lists of strings, not one string")
    text_list, label_list = list(texts), list(labels)
    if len(text_list) != len(label_list):
        raise ValidationError(
            f"got {len(text_list)} texts but {len(label_list)} labels: give one label per text"
        )
    for position, (text, label) in enumerate(zip(text_list, label_list, strict=True)):
        if not isinstance(text, str) or not isinstance(label, str) or not label:
            raise ValidationError(
                f"example #{position} ({text!r}, {label!r}): texts must be str and labels "
                "non-empty str"
            )
    return text_list, label_list


class TextModel:
    """TF-IDF word + character n-grams and a multinomial logistic regression.

    >>> model = TextModel.train(["refund please", "app crashes"] * 5, ["refund", "bug"] * 5)
    >>> model.predict_one("I want a refund").label
    'refund'
    """

    kind = "text-classifier"

    def __init__(
        self,
        config: TextModelConfig | None = None,
        *,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config or TextModelConfig()
        for label, template in (templates or {}).items():
            _check_template(label, template)
        self._templates = dict(templates or {})
        self._features: FeatureUnion | None = None
        self._classifier: LogisticRegression | None = None
        self._texts: list[str] = []
        self._labels: list[str] = []
        self._names: npt.NDArray[np.str_] | None = None

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        config: TextModelConfig | None = None,
        templates: Mapping[str, str] | None = None,
    ) -> TextModel:
        """A new fitted model: ``TextModel(config, templates=...).fit(texts, labels)``."""
        return cls(config, templates=templates).fit(texts, labels)

    # ------------------------------------------------------------------ state

    @property
    def is_fitted(self) -> bool:
        return self._classifier is not None

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self._fitted()[1].classes_)

    @property
    def templates(self) -> Mapping[str, str]:
        return MappingProxyType(self._templates)

    @property
    def training_size(self) -> int:
        return len(self._texts)

    def training_examples(self) -> list[tuple[str, str]]:
        """A copy of the (text, label) pairs this model was fitted on."""
        return list(zip(self._texts, self._labels, strict=True))

    def __repr__(self) -> str:
        if not self.is_fitted:
            return "TextModel(not fitted)"
        return f"TextModel(classes={list(self.classes)}, trained on {self.training_size} texts)"

    def _fitted(self) -> tuple[FeatureUnion, LogisticRegression]:
        if self._features is None or self._classifier is None:
            raise ValidationError(
                "this TextModel is not fitted: call fit(texts, labels) or TextModel.train(...)"
            )
        return self._features, self._classifier

    # ------------------------------------------------------------------ training

    def _make_features(self) -> FeatureUnion:
        cfg = self.config
        common: dict[str, Any] = {
            "sublinear_tf": True,
            "min_df": cfg.min_df,
            "max_features": cfg.max_features,
            "dtype": np.float64,
        }
        return FeatureUnion(
            [
                (
                    "word",
                    TfidfVectorizer(
                        analyzer="word",
                        ngram_range=cfg.word_ngrams,
                        token_pattern=_WORD_PATTERN,
                        **common,
                    ),
                ),
                (
                    "char",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=cfg.char_ngrams, **common),
                ),
            ]
        )

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TextModel:
        """Fit this (new) model and return it. A fitted model refuses a second fit."""
        if self.is_fitted:
            raise ConflictError(
                "this TextModel is already fitted and fitted models never change: "
                "use fine_tune(texts, labels) for a new model with more examples"
            )
        text_list, label_list = _check_examples(texts, labels)
        distinct = sorted(set(label_list))
        if len(distinct) < 2:
            raise ValidationError(
                f"fit() needs examples of at least 2 labels, got {distinct}: "
                "add examples of another label"
            )
        features = self._make_features()
        matrix = features.fit_transform(text_list)
        classifier = LogisticRegression(
            C=self.config.C, max_iter=self.config.max_iter, class_weight=self.config.class_weight
        )
        classifier.fit(matrix, label_list)
        self._features, self._classifier = features, classifier
        self._texts, self._labels = text_list, label_list
        return self

    def fine_tune(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        templates: Mapping[str, str] | None = None,
    ) -> TextModel:
        """A NEW model fitted on this model's examples plus these; this one is unchanged.

        New labels are welcome. ``templates`` add to (and override) this model's templates.
        """
        self._fitted()
        text_list, label_list = _check_examples(texts, labels)
        if not text_list:
            raise ValidationError("fine_tune() got no examples: give at least one (text, label)")
        merged = {**self._templates, **(templates or {})}
        new = TextModel(self.config, templates=merged)
        return new.fit(self._texts + text_list, self._labels + label_list)

    # ------------------------------------------------------------------ inference

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Probabilities, one row per text, columns in :attr:`classes` order."""
        features, classifier = self._fitted()
        if isinstance(texts, str):
            raise ValidationError("predict_proba() takes a list of texts: pass [text]")
        return np.asarray(classifier.predict_proba(features.transform(list(texts))))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """The most likely label of each text, with its probability."""
        classes = self.classes
        out = []
        for row in self.predict_proba(texts):
            best = int(np.argmax(row))
            out.append(
                Prediction(
                    label=classes[best],
                    probability=float(row[best]),
                    probabilities={c: float(p) for c, p in zip(classes, row, strict=True)},
                )
            )
        return out

    def predict_one(self, text: str) -> Prediction:
        return self.predict([text])[0]

    def evaluate(self, texts: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
        """Accuracy and macro F1 on labelled examples (for a version's manifest)."""
        text_list, label_list = _check_examples(texts, labels)
        predicted = [p.label for p in self.predict(text_list)]
        return {
            "accuracy": float(accuracy_score(label_list, predicted)),
            "macro_f1": float(f1_score(label_list, predicted, average="macro", zero_division=0)),
            "n": float(len(text_list)),
        }

    def explain(self, text: str, *, label: str | None = None, top: int = 10) -> list[Attribution]:
        """The n-grams of ``text`` that pushed hardest towards ``label`` (default: predicted).

        Each contribution is the label's logistic-regression coefficient for the n-gram
        times the n-gram's TF-IDF value in ``text``; largest first, positive ones only.
        """
        features, classifier = self._fitted()
        classes = self.classes
        target = label if label is not None else self.predict_one(text).label
        if target not in classes:
            raise ValidationError(f"label {target!r} is not one of this model's {list(classes)}")
        row = features.transform([text]).tocsr()
        weights = self._coefficients(classifier, classes.index(target))[row.indices]
        contributions = weights * row.data
        names = self._feature_names()
        order = np.argsort(-contributions, kind="stable")[:top]
        return [
            Attribution(
                feature=str(names[row.indices[i]]).split("__", 1)[1],
                kind="word" if str(names[row.indices[i]]).startswith("word__") else "char",
                value=float(row.data[i]),
                weight=float(weights[i]),
                contribution=float(contributions[i]),
            )
            for i in order
            if contributions[i] > 0
        ]

    @staticmethod
    def _coefficients(classifier: LogisticRegression, index: int) -> npt.NDArray[np.float64]:
        coef = np.asarray(classifier.coef_)
        if coef.shape[0] == 1:  # binary: one row, pointing to the second class
            return coef[0] if index == 1 else -coef[0]
        return coef[index]

    def _feature_names(self) -> npt.NDArray[np.str_]:
        if self._names is None:
            self._names = self._fitted()[0].get_feature_names_out()
        return self._names

    # ------------------------------------------------------------------ replies

    def render(self, prediction: Prediction, text: str, variables: Mapping[str, Any]) -> str:
        """The label's template filled with ``label``, ``probability``, ``text`` + variables."""
        template = self._templates[prediction.label]
        values = {
            **variables,
            "label": prediction.label,
            "probability": prediction.probability,
            "text": text,
        }
        try:
            return template.format_map(values)
        except KeyError as exc:
            raise ValidationError(
                f"reply template for label {prediction.label!r} needs variable {exc.args[0]!r}; "
                f"given: {sorted(values)}. Pass it in variables (chat: extra.variables)"
            ) from None

    def reply(self, text: str, variables: Mapping[str, Any] | None = None) -> Reply:
        """Classify ``text`` and answer: the label's rendered template, else a JSON object."""
        prediction = self.predict_one(text)
        templated = prediction.label in self._templates
        if templated:
            body = self.render(prediction, text, variables or {})
        else:
            body = json.dumps(
                {"label": prediction.label, "probability": round(prediction.probability, 4)}
            )
        return Reply(**prediction.model_dump(), text=body, templated=templated)

    def describe(self) -> dict[str, Any]:
        """Settings, classes and templates, JSON-ready (the manifest's ``details``)."""
        return {
            "config": self.config.as_dict(),
            "classes": list(self.classes) if self.is_fitted else [],
            "templates": dict(self._templates),
            "training_size": self.training_size,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_names"] = None  # recomputed on demand; keeps saved files small
        return state
