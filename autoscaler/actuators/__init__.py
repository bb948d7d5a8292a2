"""Act: set the number of consumer replicas — local processes (the default) or a Kubernetes Deployment."""

from __future__ import annotations

from typing import Protocol

from floodwall.errors import FloodwallError


class ActuationError(FloodwallError):
    """The replica count could not be read or set; the message says what to fix when a user can."""


class Actuator(Protocol):
    """Where the replicas run. ``scale`` sets an absolute count, so repeating it is harmless."""

    def current(self) -> int:
        """Replicas running (or asked for) now. Raises ActuationError."""
        ...

    def scale(self, replicas: int) -> None:
        """Make ``replicas`` run. Raises ActuationError."""
        ...

    def close(self) -> None:
        """Release resources (the local fleet stops its processes gracefully)."""
        ...
