"""kedro-kinetic's version, in a module of its own: the driver writes it into every task spec
and the pod names it when it refuses one, and neither may import the package root for it (its
lazy ``GKERunner`` reaches the driver, as far as the import contracts can tell)."""

from __future__ import annotations

__version__ = "0.1.0"
