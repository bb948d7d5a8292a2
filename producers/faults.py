"""What a Kafka client error means to the SDK (pure functions, no I/O).

Three kinds matter:

* **client state lost** (:func:`needs_new_client`): the client's idempotence state no longer matches the
  broker's (unknown producer id, out-of-order sequence, fenced or bumped epoch) or librdkafka declared
  the instance unusable (``err.fatal()``, code ``_FATAL``). The client is replaced; nothing it still
  held is given up.
* **outage** (:func:`is_outage`): the broker or topic cannot be reached right now; the event goes to the
  spool and the SDK replays it later.
* anything else: the event itself was refused (e.g. too large) and its delivery fails with that reason.

Seen against Apache Kafka 4.4 (docs/sdk.md): after a broker lost its data, an idempotent client that kept
its producer id got ``OUT_OF_ORDER_SEQUENCE_NUMBER`` delivery reports *without* the fatal flag, then
``_FATAL`` from ``produce()``. So the codes count on their own, not only ``err.fatal()``.
"""

from __future__ import annotations

from enum import StrEnum

from confluent_kafka import KafkaError, KafkaException


def _codes(*names: str) -> frozenset[int]:
    # getattr: a name librdkafka or the broker protocol dropped must not break the import.
    return frozenset(getattr(KafkaError, n) for n in names if hasattr(KafkaError, n))


# The client's producer id / epoch / sequence state is unusable: only a fresh client can send again.
STATE_LOST_CODES = _codes(
    "UNKNOWN_PRODUCER_ID",
    "OUT_OF_ORDER_SEQUENCE_NUMBER",
    "INVALID_PRODUCER_EPOCH",
    "INVALID_PRODUCER_ID_MAPPING",
    "PRODUCER_FENCED",
    "_FENCED",
    "_FATAL",
    "_INCONSISTENT",
    "_GAPLESS_GUARANTEE",
)

# The broker or topic is unavailable right now: spool and retry later.
OUTAGE_CODES = _codes(
    "_MSG_TIMED_OUT",
    "_TRANSPORT",
    "_ALL_BROKERS_DOWN",
    "_PURGE_QUEUE",
    "_PURGE_INFLIGHT",
    "_TIMED_OUT",
    "_UNKNOWN_TOPIC",
    "_UNKNOWN_PARTITION",
    "UNKNOWN_TOPIC_OR_PART",
    "LEADER_NOT_AVAILABLE",
    "NOT_LEADER_FOR_PARTITION",
    "REQUEST_TIMED_OUT",
    "NETWORK_EXCEPTION",
    "NOT_ENOUGH_REPLICAS",
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
)


class RestartReason(StrEnum):
    """Why the SDK replaced its Kafka client (label of ``floodwall_producer_client_restarts_total``)."""

    FATAL = "fatal"  # the client's state was lost or librdkafka declared it unusable
    CLIENT_ERROR = "client_error"  # a call on the client raised something unexpected
    OUTAGE = "outage"  # the broker was unreachable; the spool is replayed through a fresh client


# When several reasons pile up before the client is replaced, the strongest is recorded.
_STRENGTH = {RestartReason.OUTAGE: 0, RestartReason.CLIENT_ERROR: 1, RestartReason.FATAL: 2}


def stronger(current: RestartReason | None, new: RestartReason) -> RestartReason:
    """The reason to record when ``new`` arrives while ``current`` is pending."""
    if current is None or _STRENGTH[new] > _STRENGTH[current]:
        return new
    return current


def needs_new_client(err: KafkaError) -> bool:
    """True when the client that reported ``err`` cannot be trusted to send again."""
    return bool(err.fatal()) or err.code() in STATE_LOST_CODES


def is_outage(err: KafkaError) -> bool:
    """True when ``err`` means the broker or topic is unavailable now (worth spooling and retrying)."""
    return err.code() in OUTAGE_CODES or bool(err.retriable())


def should_spool(err: KafkaError) -> bool:
    """True when an event whose delivery failed with ``err`` goes to the spool rather than failing."""
    return needs_new_client(err) or is_outage(err)


def restart_reason(err: KafkaError) -> RestartReason:
    """The restart reason an error from the client implies (outage unless the client state is lost)."""
    return RestartReason.FATAL if needs_new_client(err) else RestartReason.OUTAGE


def kafka_error_of(exc: BaseException) -> KafkaError | None:
    """The KafkaError a KafkaException carries (None for any other exception)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None
