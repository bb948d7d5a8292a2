"""The fleet model's start-up and rebalance figures per consumer group protocol, measured on Apache Kafka.

Source: ``floodwall bench rebalance --trials 3`` on this project's 2-core machine (Apache Kafka 4.4 in
KRaft mode, librdkafka 2.16.1, 12 partitions, the stack's 6 s session timeout, a 30,000 rows/s fleet
budget), 4 Dec 2026; medians over the trials, the whole table in docs/autoscaler.md. The model's figures
come from the bench's as follows (autoscaler/fleetmodel.py stops the whole group for a pause):

- ``join_pause_s`` = the longer of a scale-up 1 -> 3's whole-fleet stall (``fleet_stall_s``: no partition
  advanced) and the ingestion time it cost (``lost_s``): the model stops everyone for the pause, so it
  must last as long as the real full stop, and cost at least what the partial stops cost;
- ``leave_pause_s`` = the same for a scale-down 3 -> 1, two members leaving at once;
- ``startup_s`` = the time from starting a member's process to its first partitions
  (``first_assigned_s``), less the join pause, at least 0. It is 0 for both: on this machine the stall
  begins when the two new processes start (their start-up takes the two cores from the running member),
  and the newcomers hold partitions before it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GroupProtocol = Literal["classic", "consumer"]
PROTOCOLS: tuple[GroupProtocol, ...] = ("classic", "consumer")


@dataclass(frozen=True)
class ProtocolFigures:
    """What one membership change costs the fleet under one group protocol (seconds)."""

    startup_s: float
    join_pause_s: float
    leave_pause_s: float


MEASURED: dict[GroupProtocol, ProtocolFigures] = {
    # classic with cooperative-sticky assignment. Bench medians: scale-up stall 2.95 s, lost 2.81 s, first
    # partitions 1.81 s after the start; scale-down stall 4.21 s, lost 0 s.
    "classic": ProtocolFigures(startup_s=0.0, join_pause_s=2.95, leave_pause_s=4.21),
    # KIP-848: the broker assigns, a moved partition waits for its old owner's revocation. Bench medians:
    # scale-up stall 3.03 s, lost 3.50 s, first partitions 1.96 s; scale-down stall 2.25 s, lost 0 s.
    "consumer": ProtocolFigures(startup_s=0.0, join_pause_s=3.50, leave_pause_s=2.25),
}
