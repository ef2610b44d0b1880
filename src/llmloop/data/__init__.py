"""Datasets: immutable content-addressed versions, aliases, imports and exports, splits,
diffs and duplicate detection. :class:`~llmloop.data.datasets.Datasets` is the feature."""

from __future__ import annotations

from llmloop.data.datasets import Datasets
from llmloop.data.importers import ColumnMapping, ImportReport

__all__ = ["ColumnMapping", "Datasets", "ImportReport"]
