"""The OpenAI-compatible gateway: routing, fallbacks, limits, cache, traced calls."""
