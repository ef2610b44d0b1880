"""Human annotation: queues, agreement, adjudication, golden sets and label errors.

:class:`Queues` creates queues of dataset records or traces with a :class:`LabelSchema`,
hands items to annotators (:meth:`Queues.next_item`), records answers and settles items;
:func:`agreement` measures inter-annotator agreement; :func:`promote` writes settled
items into a dataset's ``golden`` alias; :func:`queue_from_selection` queues the records
an active-learning strategy picks; :func:`flag_label_errors` finds likely mislabeled
records with confident learning and queues them for review.
"""

from llmloop.annotation.agreement import (
    AgreementReport,
    AnnotatorStats,
    PairAgreement,
    agreement,
    cohen_kappa,
    krippendorff_alpha,
)
from llmloop.annotation.golden import PromoteOutcome, promote
from llmloop.annotation.label_errors import (
    LabelErrorReport,
    LabelIssue,
    find_issues,
    flag_label_errors,
    out_of_fold_probs,
)
from llmloop.annotation.queues import (
    AssignOutcome,
    ItemPage,
    ItemView,
    Queues,
    QueueSummary,
    annotator_name,
)
from llmloop.annotation.selection import queue_from_selection
from llmloop.store.annotation_types import Item, LabelSchema, Progress, Queue

__all__ = [
    "AgreementReport",
    "AnnotatorStats",
    "AssignOutcome",
    "Item",
    "ItemPage",
    "ItemView",
    "LabelErrorReport",
    "LabelIssue",
    "LabelSchema",
    "PairAgreement",
    "Progress",
    "PromoteOutcome",
    "Queue",
    "QueueSummary",
    "Queues",
    "agreement",
    "annotator_name",
    "cohen_kappa",
    "find_issues",
    "flag_label_errors",
    "krippendorff_alpha",
    "out_of_fold_probs",
    "promote",
    "queue_from_selection",
]
