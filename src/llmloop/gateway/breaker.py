"""A circuit breaker per upstream model: stop calling what keeps failing.

After ``failures`` consecutive failures (server errors, timeouts, connection errors)
the circuit opens and calls skip that upstream (straight to a fallback, or a 503). After
``cooldown_s`` one call is let through as a probe (half-open): its success closes the
circuit, its failure opens it for another cool-down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["Breakers", "Circuit"]


@dataclass(slots=True)
class Circuit:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.probing else "open"


class Breakers:
    def __init__(self, failures: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._circuits: dict[str, Circuit] = {}

    def circuit(self, upstream: str) -> Circuit:
        circuit = self._circuits.get(upstream)
        if circuit is None:
            circuit = self._circuits[upstream] = Circuit()
        return circuit

    def allow(self, upstream: str) -> bool:
        """Whether a call may go to ``upstream`` now (a probe when half-open)."""
        circuit = self._circuits.get(upstream)
        if circuit is None or circuit.opened_at is None:
            return True
        if circuit.probing:
            return False  # one probe at a time
        if time.monotonic() - circuit.opened_at >= self.cooldown_s:
            circuit.probing = True
            return True
        return False

    def retry_after_s(self, upstream: str) -> float:
        circuit = self._circuits.get(upstream)
        if circuit is None or circuit.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (time.monotonic() - circuit.opened_at))

    def success(self, upstream: str) -> None:
        circuit = self._circuits.get(upstream)
        if circuit is not None and (circuit.failures or circuit.opened_at is not None):
            circuit.failures, circuit.opened_at, circuit.probing = 0, None, False

    def failure(self, upstream: str) -> None:
        circuit = self.circuit(upstream)
        circuit.failures += 1
        if circuit.probing or circuit.failures >= self.threshold:
            circuit.opened_at = time.monotonic()
            circuit.probing = False

    def release_probe(self, upstream: str) -> None:
        """A probe that ended without a verdict (e.g. the caller went away)."""
        circuit = self._circuits.get(upstream)
        if circuit is not None:
            circuit.probing = False

    def states(self) -> dict[str, str]:
        return {name: c.state for name, c in self._circuits.items()}
