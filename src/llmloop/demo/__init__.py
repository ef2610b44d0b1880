"""The offline demo: a support-ticket assistant built on synthetic tickets.

:func:`run_scenario` runs the story and returns a :class:`DemoResult` with every figure it
measured; :mod:`llmloop.demo.tickets` generates the tickets. Only ``llmloop.cli.demo``
imports this package.
"""

from __future__ import annotations

from llmloop.demo.results import DemoResult, ScenarioOptions, SliceMetrics
from llmloop.demo.scenario import Progress, run_scenario
from llmloop.demo.tickets import (
    BASE_MIX,
    SHIFTED_MIX,
    TicketMix,
    generate_shifted,
    generate_tickets,
)

__all__ = [
    "BASE_MIX",
    "SHIFTED_MIX",
    "DemoResult",
    "Progress",
    "ScenarioOptions",
    "SliceMetrics",
    "TicketMix",
    "generate_shifted",
    "generate_tickets",
    "run_scenario",
]
