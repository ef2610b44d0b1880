"""A synthetic support-ticket data set for the demo, generated in code and deterministic by seed.

Tickets to the fictional gadget maker Lumio: eight intents across five product lines and
five languages, written from per-language phrase packs (:mod:`llmloop.demo.phrases`) with
slot fillers (orders, amounts, dates, devices, product faults and features), greetings,
fillers and sign-offs by channel, and a little noise (typos, casing, dropped accents).
Some tickets are hard on purpose (``metadata["difficulty"]``): ``ambiguous`` ones are
worded so they also point at another intent, ``mixed`` ones add a second, lesser request
of another intent after the main one (labelled by the main request). Every record carries
``metadata`` language, product, intent, user_group (customer tier), channel, difficulty
and batch (the mix's name); ``expectations`` the intent and the reference reply.

A :class:`TicketMix` says how often each intent, language, product, customer tier and
channel appears. :data:`BASE_MIX` is the traffic version 1 is trained on: four languages and
four product lines. :data:`SHIFTED_MIX` is later traffic: Portuguese appears, the new e-bike
line (``ride``) takes half the volume, and the intent mix moves towards shipping, technical
problems and complaints.

>>> tickets = generate_tickets(100, seed=7)
>>> tickets[0].expectations["intent"] in INTENTS
True
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmloop.demo.phrases import INTENTS, PACKS, PRODUCTS, LanguagePack
from llmloop.errors import ValidationError
from llmloop.records import Record, RecordSource

DEVICES: tuple[str, ...] = (
    "iPhone 13",
    "iPhone 15 Pro",
    "Pixel 8",
    "Galaxy S23",
    "Galaxy A54",
    "iPad Air",
    "Redmi Note 12",
    "OnePlus 11",
    "MacBook Air",
    "Fire TV Stick",
)
PRICES: tuple[float, ...] = (
    4.99,
    9.99,
    14.99,
    19.99,
    29.99,
    49.99,
    79.0,
    89.99,
    129.0,
    149.99,
    199.0,
    249.0,
)
USER_GROUPS: tuple[str, ...] = ("free", "standard", "premium", "business")
CHANNELS: tuple[str, ...] = ("email", "web_form", "chat", "app")
DEFAULT_START = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


class TicketMix(BaseModel):
    """How often each kind of ticket appears: relative weights (they need not sum to 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Tag written to each record's metadata.batch.")
    intents: dict[str, float]
    languages: dict[str, float]
    products: dict[str, float]
    user_groups: dict[str, float] = Field(
        default_factory=lambda: {"free": 0.35, "standard": 0.4, "premium": 0.18, "business": 0.07}
    )
    channels: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.4, "web_form": 0.25, "chat": 0.25, "app": 0.1}
    )
    ambiguous_rate: float = Field(default=0.08, ge=0, le=1, description="Share worded ambiguously.")
    mixed_rate: float = Field(
        default=0.1, ge=0, le=1, description="Share adding a second request of another intent."
    )
    generic_subject_rate: float = Field(
        default=0.3, ge=0, le=1, description="Share whose subject says nothing ('Help')."
    )
    typo_rate: float = Field(default=0.06, ge=0, le=1, description="Share of tickets with typos.")
    casing_rate: float = Field(default=0.05, ge=0, le=1, description="Share typed all lower-case.")
    accent_drop_rate: float = Field(default=0.12, ge=0, le=1)
    long_rate: float = Field(
        default=0.15, ge=0, le=1, description="Share with a second body sentence."
    )

    @model_validator(mode="after")
    def _known_keys(self) -> TicketMix:
        for field, known in (
            ("intents", INTENTS),
            ("languages", tuple(PACKS)),
            ("products", tuple(PRODUCTS)),
            ("user_groups", USER_GROUPS),
            ("channels", CHANNELS),
        ):
            weights: dict[str, float] = getattr(self, field)
            unknown = sorted(set(weights) - set(known))
            if unknown:
                raise ValueError(f"{field} has unknown keys {unknown}; known: {list(known)}")
            if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
                raise ValueError(f"{field} needs at least one positive weight and none negative")
        return self


BASE_MIX = TicketMix(
    name="base",
    intents={
        "technical": 0.2,
        "shipping": 0.17,
        "billing": 0.13,
        "refund": 0.12,
        "account": 0.12,
        "product_question": 0.1,
        "cancellation": 0.08,
        "complaint": 0.08,
    },
    languages={"en": 0.45, "es": 0.2, "de": 0.2, "fr": 0.15},
    products={"hub": 0.3, "cam": 0.3, "buds": 0.25, "thermo": 0.15},
)
"""Traffic before the shift: English, Spanish, German, French; hub, cam, buds, thermostat."""

SHIFTED_MIX = TicketMix(
    name="shifted",
    intents={
        "technical": 0.28,
        "shipping": 0.22,
        "complaint": 0.15,
        "refund": 0.12,
        "billing": 0.07,
        "account": 0.06,
        "cancellation": 0.05,
        "product_question": 0.05,
    },
    languages={"en": 0.3, "es": 0.1, "de": 0.1, "fr": 0.1, "pt": 0.4},
    products={"hub": 0.15, "cam": 0.15, "buds": 0.1, "thermo": 0.1, "ride": 0.5},
)
"""Traffic after the shift: Portuguese and the e-bike line appear, the intent mix moves."""


def generate_tickets(
    n: int, seed: int = 7, mix: TicketMix = BASE_MIX, *, start: datetime = DEFAULT_START
) -> list[Record]:
    """``n`` tickets drawn from ``mix``; the same ``seed`` and mix give the same records."""
    if n < 0:
        raise ValidationError(f"n={n}: the number of tickets cannot be negative")
    rng = random.Random(seed * 1_000_003 + zlib.crc32(mix.name.encode()))
    composer = _Composer(rng, mix)
    source = RecordSource(kind="generated", ref=f"llmloop.demo.tickets:{mix.name}:seed={seed}")
    records = []
    when = start
    for index in range(n):
        when += timedelta(seconds=rng.expovariate(1 / 180))
        inputs, expectations, metadata = composer.ticket()
        records.append(
            Record(
                id=_record_id(mix.name, seed, index),
                inputs=inputs,
                expectations=expectations,
                metadata=metadata,
                source=source,
                created_at=when,
            )
        )
    return records


def generate_shifted(
    n: int, seed: int = 7, mix: TicketMix = SHIFTED_MIX, *, start: datetime | None = None
) -> list[Record]:
    """``n`` tickets of shifted traffic (by default a new language and a new product line)."""
    return generate_tickets(n, seed, mix, start=start or DEFAULT_START + timedelta(days=30))


def model_text(record: Record) -> str:
    """What a triage model reads: the subject line, then the ticket."""
    return f"{record.inputs.get('subject', '')}\n{record.inputs['ticket']}"


def reply_templates(language: str = "en") -> dict[str, str]:
    """The reference reply of every intent in ``language``, usable as reply templates."""
    if language not in PACKS:
        raise ValidationError(f"no phrases for language {language!r}; known: {sorted(PACKS)}")
    return dict(PACKS[language].replies)


def distribution(records: Sequence[Record], key: str) -> dict[str, int]:
    """How many records carry each value of ``metadata[key]``, most frequent first."""
    counts = Counter(str(r.metadata.get(key)) for r in records)
    return dict(counts.most_common())


def _record_id(batch: str, seed: int, index: int) -> str:
    digest = hashlib.blake2b(f"{batch}:{seed}:{index}".encode(), digest_size=16).hexdigest()
    return f"rec_{digest}"


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _capitalize(text: str) -> str:
    """Upper-case the first letter, skipping leading punctuation such as ``¿``."""
    for position, char in enumerate(text):
        if char.isalpha():
            return text[:position] + char.upper() + text[position + 1 :]
    return text


class _Composer:
    """Writes one ticket at a time from the phrase packs, drawing every choice from ``rng``."""

    def __init__(self, rng: random.Random, mix: TicketMix) -> None:
        self.rng = rng
        self.mix = mix

    def ticket(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        rng, mix = self.rng, self.mix
        intent = _pick(rng, mix.intents)
        language = _pick(rng, mix.languages)
        product = _pick(rng, mix.products)
        user_group = _pick(rng, mix.user_groups)
        channel = _pick(rng, mix.channels)
        pack = PACKS[language]
        slots = self._slots(pack, product)
        body, difficulty = self._body(pack, intent, slots)
        text = self._assemble(pack, channel, body, slots)
        text = self._noise(text, language, channel)
        generic_chance = mix.generic_subject_rate * (2 if channel == "chat" else 1)
        subjects = pack.generic_subjects if rng.random() < generic_chance else pack.subjects[intent]
        subject = rng.choice(subjects).format_map(slots)
        inputs = {"ticket": text, "subject": subject}
        expectations = {"intent": intent, "reply": pack.replies[intent]}
        metadata = {
            "language": language,
            "product": product,
            "intent": intent,
            "user_group": user_group,
            "channel": channel,
            "difficulty": difficulty,
            "batch": mix.name,
        }
        return inputs, expectations, metadata

    def _slots(self, pack: LanguagePack, product: str) -> dict[str, str]:
        rng = self.rng
        phrases = pack.products[product]
        symptom = rng.choice(phrases.symptoms)
        feature = rng.choice(phrases.features)
        day, month = rng.randint(1, 28), rng.randint(1, 12)
        date = rng.choice(pack.date_formats).format(
            day=day, month=pack.months[month - 1], dd=f"{day:02d}", mm=f"{month:02d}"
        )
        price = rng.choice(PRICES)
        amount = f"{price:.2f}".replace(".", pack.decimal_mark)
        return {
            "product": rng.choice(phrases.product),
            "topic": rng.choice(phrases.topic),
            "brand": PRODUCTS[product],
            "symptom": symptom,
            "Symptom": _capitalize(symptom),
            "feature": feature,
            "Feature": _capitalize(feature),
            "order": self._order_number(),
            "amount": rng.choice(pack.money_formats).format(amount=amount),
            "date": date,
            "device": rng.choice(DEVICES),
            "days": str(rng.randint(5, 21)),
            "years": str(rng.randint(2, 9)),
            "code": str(rng.randint(100, 999)),
            "name": rng.choice(pack.names),
        }

    def _order_number(self) -> str:
        digits = self.rng.randint(100_000, 999_999)
        style = self.rng.random()
        if style < 0.5:
            return f"LM-{digits}"
        if style < 0.75:
            return f"#{digits}{self.rng.randint(0, 9)}"
        return f"LM{digits}"

    def _body(self, pack: LanguagePack, intent: str, slots: dict[str, str]) -> tuple[str, str]:
        """The ticket's request(s) and how hard it is: ``clear``, ``ambiguous`` or ``mixed``.

        An ambiguous ticket is worded so that it also points at another intent; a mixed one
        adds a second, lesser request of another intent after the main one (the label is
        the main request, as a triage team would route it).
        """
        rng = self.rng
        if rng.random() < self.mix.ambiguous_rate:
            candidates = [t for i, t in pack.ambiguous if i == intent]
            if candidates:
                return rng.choice(candidates).format_map(slots), "ambiguous"
        templates = pack.bodies[intent]
        first = rng.randrange(len(templates))
        sentences = [templates[first].format_map(slots)]
        difficulty = "clear"
        if rng.random() < self.mix.mixed_rate:
            other = rng.choice([i for i in INTENTS if i != intent])
            sentences += [rng.choice(pack.connectives), rng.choice(pack.bodies[other])]
            sentences[-1] = sentences[-1].format_map(slots)
            difficulty = "mixed"
        elif rng.random() < self.mix.long_rate:
            second = (first + rng.randrange(1, len(templates))) % len(templates)
            sentences.append(templates[second].format_map(slots))
        return " ".join(sentences), difficulty

    def _assemble(self, pack: LanguagePack, channel: str, body: str, slots: dict[str, str]) -> str:
        rng = self.rng
        sentences = [body]
        filler_chance = 0.2 if channel == "chat" else 0.45
        while rng.random() < filler_chance and len(sentences) < 3:
            filler = rng.choice(pack.fillers).format_map(slots)
            sentences.insert(rng.randrange(len(sentences) + 1), filler)
        if channel != "chat" and rng.random() < 0.5:
            sentences.append(rng.choice(pack.politeness))
        paragraph = " ".join(sentences)
        if channel == "chat":
            return paragraph
        parts = [paragraph]
        greeting_chance = {"email": 0.85, "web_form": 0.4, "app": 0.25}[channel]
        if rng.random() < greeting_chance:
            parts.insert(0, rng.choice(pack.greetings))
        if channel == "email" and rng.random() < 0.8:
            parts.append(rng.choice(pack.signoffs).format_map(slots))
        if channel == "app" and pack.app_footer:
            parts.append(rng.choice(pack.app_footer).format_map(slots))
        return "\n\n".join(parts)

    def _noise(self, text: str, language: str, channel: str) -> str:
        rng, mix = self.rng, self.mix
        if language != "en" and rng.random() < mix.accent_drop_rate:
            text = _strip_accents(text)
        if rng.random() < mix.typo_rate:
            for _ in range(rng.randint(1, 3)):
                text = _typo(text, rng)
        lower_chance = mix.casing_rate * (5 if channel == "chat" else 1)
        if rng.random() < lower_chance:
            text = text.lower()
        return text


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_KEYBOARD_NEIGHBOURS = {
    "a": "sq", "e": "wr", "i": "uo", "o": "ip", "u": "yi", "n": "bm", "r": "et", "t": "ry",
    "s": "ad", "l": "k", "c": "xv", "d": "sf", "m": "n", "p": "o", "g": "fh", "h": "gj",
}  # fmt: skip


def _typo(text: str, rng: random.Random) -> str:
    """One keyboard slip inside a word: swapped, dropped, doubled or neighbouring letter."""
    positions = [i for i in range(1, len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
    if not positions:
        return text
    i = rng.choice(positions)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    near = _KEYBOARD_NEIGHBOURS.get(text[i].lower())
    return text[:i] + rng.choice(near) + text[i + 1 :] if near else text


__all__ = [
    "BASE_MIX",
    "CHANNELS",
    "DEVICES",
    "INTENTS",
    "PRODUCTS",
    "SHIFTED_MIX",
    "USER_GROUPS",
    "TicketMix",
    "distribution",
    "generate_shifted",
    "generate_tickets",
    "model_text",
    "reply_templates",
]
