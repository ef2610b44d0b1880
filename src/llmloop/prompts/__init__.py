"""The prompt registry: immutable versions of sandboxed templates with typed variables,
movable labels and diffs. :class:`~llmloop.prompts.service.Prompts` is the feature."""

from __future__ import annotations

from llmloop.prompts.service import Prompts
from llmloop.prompts.templates import CompiledPrompt, compile_version

__all__ = ["CompiledPrompt", "Prompts", "compile_version"]
