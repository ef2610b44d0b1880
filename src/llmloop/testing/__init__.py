"""Test helpers shipped with llmloop, for our tests and for yours.

:class:`ScriptedUpstream` is an OpenAI-compatible server on loopback whose answers,
errors, latency and streaming you script, and which records what it received.
"""

from llmloop.testing.upstream import ReceivedRequest, ScriptedResponse, ScriptedUpstream, embed_text

__all__ = ["ReceivedRequest", "ScriptedResponse", "ScriptedUpstream", "embed_text"]
