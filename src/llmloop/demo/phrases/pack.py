"""The shape of one language's phrases for the synthetic support tickets.

Each language writes its own templates, so grammar (articles, case, agreement) is
handled where it is known: a pack decides which form of a product name its templates
expect. Slots available to every template:

``{product}``  the customer's own device, in the form this pack's templates expect
``{topic}``    a product talked about before buying, in this pack's form
``{brand}``    the bare brand name (``Lumio Hub``)
``{symptom}``/``{Symptom}``  a clause describing a fault, lower/upper-case first letter
``{feature}``/``{Feature}``  a question about a capability
``{order}`` ``{amount}`` ``{date}`` ``{device}`` ``{days}`` ``{years}`` ``{code}`` ``{name}``
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

INTENTS: tuple[str, ...] = (
    "billing",
    "refund",
    "shipping",
    "technical",
    "account",
    "cancellation",
    "product_question",
    "complaint",
)
"""The intents a ticket can have; every pack covers all of them."""

PRODUCTS: dict[str, str] = {
    "hub": "Lumio Hub",
    "cam": "Lumio Cam",
    "buds": "Lumio Buds",
    "thermo": "Lumio Thermo",
    "ride": "Lumio Ride",
}
"""Product lines of the fictional company Lumio, by id. ``ride`` (an e-bike) is the line
that only appears in the shifted batch by default."""


@dataclass(frozen=True)
class ProductPhrases:
    """How one language talks about one product."""

    product: tuple[str, ...]
    topic: tuple[str, ...]
    symptoms: tuple[str, ...]
    features: tuple[str, ...]


@dataclass(frozen=True)
class LanguagePack:
    """Every phrase the generator needs for one language."""

    code: str
    name: str
    greetings: tuple[str, ...]
    signoffs: tuple[str, ...]
    politeness: tuple[str, ...]
    fillers: tuple[str, ...]
    names: tuple[str, ...]
    subjects: Mapping[str, tuple[str, ...]]
    generic_subjects: tuple[str, ...]
    """Subjects that say nothing about the intent ("Help", "(no subject)")."""
    connectives: tuple[str, ...]
    """Lead-ins for a second, unrelated request in the same ticket ("One more thing:")."""
    bodies: Mapping[str, tuple[str, ...]]
    ambiguous: tuple[tuple[str, str], ...]
    """(true intent, template): tickets whose wording also points at another intent."""
    replies: Mapping[str, str]
    """The reference reply per intent: fixed text with no slots, so it can be a template."""
    products: Mapping[str, ProductPhrases]
    months: tuple[str, ...]
    date_formats: tuple[str, ...]
    """Formats with ``{day}``, ``{month}`` (name), ``{dd}``, ``{mm}``."""
    money_formats: tuple[str, ...]
    """Formats with ``{amount}``, already written with this language's decimal mark."""
    decimal_mark: str = "."
    app_footer: tuple[str, ...] = field(default=())
    """Lines an in-app report appends (``{device}`` slot)."""

    def missing(self) -> list[str]:
        """What this pack lacks: intents or products without phrases (empty when complete)."""
        problems = [f"bodies[{i}]" for i in INTENTS if not self.bodies.get(i)]
        problems += [f"subjects[{i}]" for i in INTENTS if not self.subjects.get(i)]
        problems += [f"replies[{i}]" for i in INTENTS if not self.replies.get(i)]
        problems += [f"products[{p}]" for p in PRODUCTS if p not in self.products]
        if len(self.months) != 12:
            problems.append(f"months ({len(self.months)} instead of 12)")
        return problems
