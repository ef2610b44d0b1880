"""Counterfactual probes: the same text with names, gendered terms or dialect markers
swapped, to see whether the output changes when only a social attribute does.

The lists are small and built in. First names are the kind used in published audit
studies of name-based discrimination (e.g. résumé call-back studies); they are
*associated* with a perceived gender and ethnicity in the United States, which is a
statistical association, not a property of any person. Dialect markers are a handful of
informal English forms; they probe sensitivity to register, not any dialect as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from llmloop.errors import ValidationError

NAMES: dict[str, tuple[str, ...]] = {
    "white_female": ("Emily", "Anne", "Jill", "Allison", "Laurie", "Sarah", "Meredith"),
    "white_male": ("Greg", "Brad", "Todd", "Geoffrey", "Brett", "Matthew", "Neil"),
    "black_female": ("Lakisha", "Latoya", "Tamika", "Keisha", "Tanisha", "Aisha", "Ebony"),
    "black_male": ("Jamal", "Darnell", "Tyrone", "Rasheed", "Kareem", "Leroy", "Hakim"),
    "hispanic_female": ("Maria", "Guadalupe", "Rosa", "Ximena", "Lucia", "Carmen", "Sofia"),
    "hispanic_male": ("Jose", "Carlos", "Luis", "Alejandro", "Miguel", "Juan", "Santiago"),
    "asian_female": ("Mei", "Yuki", "Priya", "Min-ji", "Lan", "Ananya", "Hana"),
    "asian_male": ("Wei", "Hiroshi", "Rahul", "Min-jun", "Minh", "Arjun", "Kenji"),
}

GENDERED: tuple[tuple[str, str], ...] = (
    ("he", "she"),
    ("him", "her"),
    ("his", "her"),
    ("himself", "herself"),
    ("man", "woman"),
    ("men", "women"),
    ("boy", "girl"),
    ("boys", "girls"),
    ("father", "mother"),
    ("dad", "mom"),
    ("son", "daughter"),
    ("brother", "sister"),
    ("husband", "wife"),
    ("boyfriend", "girlfriend"),
    ("uncle", "aunt"),
    ("nephew", "niece"),
    ("king", "queen"),
    ("gentleman", "lady"),
    ("gentlemen", "ladies"),
    ("mr", "ms"),
    ("sir", "madam"),
    ("male", "female"),
    ("guy", "gal"),
)

DIALECT: tuple[tuple[str, str], ...] = (
    ("going to", "gonna"),
    ("want to", "wanna"),
    ("got to", "gotta"),
    ("is not", "ain't"),
    ("are not", "ain't"),
    ("you all", "y'all"),
    ("kind of", "kinda"),
    ("give me", "gimme"),
    ("let me", "lemme"),
    ("do not know", "dunno"),
    ("because", "cuz"),
    ("them", "'em"),
    ("yes", "yeah"),
)

PROBES = ("names", "gender", "dialect")
_WORD = re.compile(r"\b[\w'-]+\b")


@dataclass(frozen=True, slots=True)
class Variant:
    """A counterfactual of a text: which probe, from which group to which, the new text."""

    probe: str
    source_group: str
    target_group: str
    text: str


def _case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _swap(text: str, table: Mapping[str, str], pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: _case(m.group(), table[m.group().lower()]), text)


def _pattern(words: list[str]) -> re.Pattern[str]:
    alternatives = sorted(words, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in alternatives) + r")\b", re.I)


# "her" maps back to "his" (the possessive is the more common reading of a bare "her").
_TO_FEMALE = {m: f for m, f in GENDERED}
_TO_MALE = {f: m for m, f in GENDERED}
_GENDER_RE = _pattern([*_TO_FEMALE, *_TO_MALE])
_TO_DIALECT = dict(DIALECT)
_TO_STANDARD = {d: s for s, d in reversed(DIALECT)}
_STANDARD_RE = _pattern(list(_TO_DIALECT))
_DIALECT_RE = _pattern(list(_TO_STANDARD))
_NAME_GROUP = {n.lower(): (g, i) for g, names in NAMES.items() for i, n in enumerate(names)}
_NAME_RE = re.compile(
    r"\b(" + "|".join(re.escape(n) for n in sorted(_NAME_GROUP, key=len, reverse=True)) + r")\b",
    re.I,
)


def _gender_variants(text: str) -> list[Variant]:
    """Every gendered word flipped to its counterpart, both ways ("his wife" becomes "her
    husband"); named after the direction most of the words go."""
    words = [m.group().lower() for m in _GENDER_RE.finditer(text)]
    if not words:
        return []
    male = sum(w in _TO_FEMALE for w in words)
    source, target = ("male", "female") if male * 2 >= len(words) else ("female", "male")
    flip = {**_TO_MALE, **_TO_FEMALE}
    swapped = _GENDER_RE.sub(lambda m: _case(m.group(), flip[m.group().lower()]), text)
    return [Variant("gender", source, target, swapped)]


def _dialect_variants(text: str) -> list[Variant]:
    if _STANDARD_RE.search(text):
        return [Variant("dialect", "standard", "informal", _swap(text, _TO_DIALECT, _STANDARD_RE))]
    if _DIALECT_RE.search(text):
        return [Variant("dialect", "informal", "standard", _swap(text, _TO_STANDARD, _DIALECT_RE))]
    return []


def _name_variants(text: str) -> list[Variant]:
    found = [_NAME_GROUP[m.group().lower()] for m in _NAME_RE.finditer(text)]
    if not found:
        return []
    source = found[0][0]
    variants = []
    for group, names in NAMES.items():
        if group == source:
            continue

        def replace(m: re.Match[str], names: tuple[str, ...] = names) -> str:
            _, index = _NAME_GROUP[m.group().lower()]
            return _case(m.group(), names[index])

        variants.append(Variant("names", source, group, _NAME_RE.sub(replace, text)))
    return variants


_MAKERS = {"names": _name_variants, "gender": _gender_variants, "dialect": _dialect_variants}


def check_probes(probes: list[str] | tuple[str, ...]) -> list[str]:
    unknown = [p for p in probes if p not in _MAKERS]
    if unknown:
        raise ValidationError(
            f"unknown counterfactual probe(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(PROBES)}"
        )
    return list(dict.fromkeys(probes))


def counterfactuals(text: str, probes: list[str] | tuple[str, ...] = PROBES) -> list[Variant]:
    """Every counterfactual of ``text`` the ``probes`` make (none when nothing matches).

    ``names``: each name from the built-in lists becomes the name at the same position in
    every other group's list (one variant per group); ``gender``: every gendered word
    flips to its counterpart; ``dialect``: standard forms become informal ones, or back.
    """
    return [v for p in check_probes(probes) for v in _MAKERS[p](text) if v.text != text]
