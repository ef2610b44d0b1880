"""Phrase packs for the synthetic support tickets, one module per language."""

from __future__ import annotations

from llmloop.demo.phrases import de, en, es, fr, pt
from llmloop.demo.phrases.pack import INTENTS, PRODUCTS, LanguagePack, ProductPhrases

PACKS: dict[str, LanguagePack] = {
    pack.code: pack for pack in (en.PACK, es.PACK, de.PACK, fr.PACK, pt.PACK)
}
"""Every language pack by ISO 639-1 code."""

__all__ = ["INTENTS", "PACKS", "PRODUCTS", "LanguagePack", "ProductPhrases"]
