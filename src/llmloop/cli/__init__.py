"""The ``llmloop`` command line."""
