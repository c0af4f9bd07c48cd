"""The circuit breaker in front of a remote inference server: a server that keeps failing is left alone for
a growing cooldown, so a user typing on gets empty completions at once instead of waiting on the network."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal


class CircuitBreaker:
    """Closed (healthy) → open after `failures` consecutive failures → half-open after a cooldown (one
    probe goes through) → closed on success, open again (longer cooldown) on failure. Thread-safe."""

    def __init__(
        self,
        failures: int = 2,
        cooldown_s: float = 1.0,
        max_cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open = max(1, failures)
        self.base_cooldown_s = cooldown_s
        self.max_cooldown_s = max(cooldown_s, max_cooldown_s)
        self._clock = clock
        self._lock = threading.Lock()
        self.state: Literal["closed", "open", "half-open"] = "closed"
        self.consecutive_failures = 0
        self._cooldown_s = cooldown_s
        self._open_until = 0.0
        self._probe_in_flight = False

    @property
    def healthy(self) -> bool:
        return self.state == "closed"

    def allow(self) -> bool:
        """May a request go to the server now? In the open state only one probe after the cooldown."""
        with self._lock:
            if self.state == "closed":
                return True
            if self.state == "open" and self._clock() >= self._open_until:
                self.state = "half-open"
                self._probe_in_flight = False
            if self.state == "half-open" and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def blocked(self) -> bool:
        """True while the breaker is open and cooling down (side requests such as tokenize fail fast)."""
        with self._lock:
            return self.state == "open" and self._clock() < self._open_until

    def record_success(self) -> bool:
        """Returns True when this success brought the server back (a transition to healthy)."""
        with self._lock:
            recovered = self.state != "closed"
            self.state = "closed"
            self.consecutive_failures = 0
            self._cooldown_s = self.base_cooldown_s
            self._probe_in_flight = False
            return recovered

    def record_failure(self) -> bool:
        """Returns True when this failure cut the server off (a transition to unhealthy)."""
        with self._lock:
            self.consecutive_failures += 1
            self._probe_in_flight = False
            now = self._clock()
            if self.state == "half-open" or (self.state == "open" and now >= self._open_until):
                # The probe (or a side request after the cooldown) failed: wait longer this time.
                self._cooldown_s = min(self._cooldown_s * 2, self.max_cooldown_s)
                self.state = "open"
                self._open_until = now + self._cooldown_s
                return False
            if self.state == "closed" and self.consecutive_failures >= self.failures_to_open:
                self.state = "open"
                self._open_until = self._clock() + self._cooldown_s
                return True
            return False

    def release_probe(self) -> None:
        """A probe ended without a verdict (cancelled before the server answered): let another go."""
        with self._lock:
            self._probe_in_flight = False
