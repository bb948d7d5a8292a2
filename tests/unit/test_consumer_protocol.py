"""The sink member's client settings per group protocol, and the misfit rule for stored offsets."""

from __future__ import annotations

import pytest

from floodwall.consumers.config import ConsumerSettings, client_config
from floodwall.consumers.outofrange import LogBounds, misfit
from floodwall.errors import ConfigError
from floodwall.settings import load_settings

# librdkafka refuses to start a KIP-848 member that sets any of these (the broker owns them).
CLASSIC_ONLY = {"session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy"}


def test_the_consumer_protocol_leaves_timeouts_to_the_broker() -> None:
    conf = client_config(load_settings(ConsumerSettings, {"group_protocol": "consumer"}))
    assert conf["group.protocol"] == "consumer"
    assert not CLASSIC_ONLY & set(conf)


def test_the_classic_protocol_is_the_default_incremental_with_client_side_timeouts() -> None:
    assert load_settings(ConsumerSettings, {}).group_protocol == "classic"
    conf = client_config(load_settings(ConsumerSettings, {"session_timeout_ms": 7000}))
    assert conf["group.protocol"] == "classic"
    assert conf["partition.assignment.strategy"] == "cooperative-sticky"
    assert (conf["session.timeout.ms"], conf["heartbeat.interval.ms"]) == (7000, 1000)


@pytest.mark.parametrize("protocol", ["consumer", "classic"])
def test_no_protocol_moves_a_position_on_its_own(protocol: str) -> None:
    conf = client_config(load_settings(ConsumerSettings, {"group_protocol": protocol}))
    assert conf["auto.offset.reset"] == "error" and conf["enable.auto.commit"] is False


def test_an_unknown_protocol_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="group_protocol"):
        load_settings(ConsumerSettings, {"group_protocol": "eager"})


@pytest.mark.parametrize(
    ("stored", "start", "end", "expected"),
    [
        (0, 0, 0, None),  # empty log, nothing consumed
        (10, 0, 10, None),  # caught up: the next offset is the log end
        (5, 5, 10, None),  # at the log start
        (11, 0, 10, "stored offset 11 is beyond the log end 10"),
        (28_409, 0, 120, "stored offset 28409 is beyond the log end 120"),  # topic recreated
        (4, 5, 10, "stored offset 4 is before the log start 5"),  # retention deleted unapplied events
    ],
)
def test_misfit_names_both_offsets(stored: int, start: int, end: int, expected: str | None) -> None:
    assert misfit(stored, LogBounds(start, end)) == expected
