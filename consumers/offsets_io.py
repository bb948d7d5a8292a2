"""The I/O behind ``floodwall offsets``: stored offsets from PostgreSQL (through the sink's own query),
the group's committed offsets and the logs' bounds from Kafka, and a reset's writes to both.

Every failure to reach either side is a one-line FloodwallError naming the endpoint, never the password.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType

import psycopg
from confluent_kafka.admin import AdminClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from floodwall.consumers.offset_plan import Change, PartitionOffsets
from floodwall.consumers.sink import PostgresSink
from floodwall.errors import ConfigError, FloodwallError
from floodwall.offsets import (
    OffsetsUnavailable,
    commit_group_offsets,
    group_member_count,
    read_group_positions,
)
from floodwall.redact import error_line


class DatabaseUnavailable(FloodwallError):
    """PostgreSQL could not be reached or refused the statement; the message says where, never a password."""


# The row lock waits for a batch in flight on the partition (its transaction holds the same row); the
# consumer's next batch then finds the new offset and is fenced (consumers/sink.py, ``_fence``).
_LOCK = (
    "SELECT partition, next_offset FROM sink_offsets "
    "WHERE consumer_group = %s AND topic = %s AND partition = ANY(%s) FOR UPDATE"
)
_UPSERT = (
    "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) "
    "SELECT %s, %s, v.p, v.o FROM unnest(%s::int[], %s::bigint[]) AS v(p, o) "
    "ON CONFLICT (consumer_group, topic, partition) "
    "DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()"
)


class OffsetsIO:
    """One group's offsets on one Kafka cluster and one sink database. Use as a context manager."""

    def __init__(
        self,
        bootstrap_servers: str,
        connection: Mapping[str, str],
        database_url: str,
        group: str,
        timeout_s: float,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group = group
        self.timeout_s = timeout_s
        self._where, self._conninfo = _database_target(database_url, timeout_s)
        self._sink = PostgresSink(self._conninfo, group)
        self._admin = AdminClient(
            {
                "bootstrap.servers": bootstrap_servers,
                "socket.timeout.ms": int(timeout_s * 1000),
                "log_level": 0,  # unreachable brokers are reported once, by the error, not logged per retry
                **connection,
            }
        )

    def __enter__(self) -> OffsetsIO:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._sink.close()

    def read(self, topics: Sequence[str]) -> list[PartitionOffsets]:
        """Every partition of ``topics`` (in order, each once): stored, committed, log start and end.

        Raises OffsetsUnavailable (Kafka; also for a topic that does not exist) or DatabaseUnavailable."""
        wanted = list(dict.fromkeys(topics))
        with self._kafka():
            positions = read_group_positions(self._admin, self.group, wanted, self.timeout_s, log_start=True)
        stored: dict[tuple[str, int], int] = {}
        with self._database("read the stored offsets"):
            for topic in wanted:
                parts = [p.partition for p in positions if p.topic == topic]
                stored.update({(topic, p): o for p, o in self._sink.stored_offsets(topic, parts).items()})
        return [
            PartitionOffsets(p.topic, p.partition, stored.get((p.topic, p.partition)), p.committed_offset,
                             p.start_offset or 0, p.end_offset)
            for p in positions
        ]  # fmt: skip

    def store(self, changes: Sequence[Change]) -> dict[tuple[str, int], int | None]:
        """Write every change's new offset to ``sink_offsets`` in one transaction (all or nothing).

        Returns the offsets actually replaced, read under the row lock: a running consumer may have moved
        one since the plan was made. Raises DatabaseUnavailable (then nothing was written)."""
        replaced: dict[tuple[str, int], int | None] = {(c.topic, c.partition): None for c in changes}
        with self._database("reset the stored offsets"):
            conn = self._sink.connection()
            with conn.transaction():
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, true)", (f"{int(self.timeout_s * 1000)}ms",)
                )
                for topic in dict.fromkeys(c.topic for c in changes):
                    mine = [c for c in changes if c.topic == topic]
                    parts = [c.partition for c in mine]
                    for part, offset in conn.execute(_LOCK, (self.group, topic, parts)).fetchall():
                        replaced[(topic, int(str(part)))] = int(str(offset))
                    conn.execute(_UPSERT, (self.group, topic, parts, [c.new for c in mine]))
        return replaced

    def member_count(self) -> int:
        """Members of the group now. Raises OffsetsUnavailable."""
        with self._kafka():
            return group_member_count(self._admin, self.group, self.timeout_s)

    def commit(self, changes: Sequence[Change]) -> None:
        """Commit the changes' new offsets to Kafka for the group (only an empty group accepts it).
        Raises OffsetsUnavailable."""
        with self._kafka():
            commit_group_offsets(
                self._admin, self.group, {(c.topic, c.partition): c.new for c in changes}, self.timeout_s
            )

    @contextmanager
    def _kafka(self) -> Iterator[None]:
        try:
            yield
        except OffsetsUnavailable as exc:
            raise OffsetsUnavailable(f"Kafka at {self.bootstrap_servers}: {exc}") from None

    @contextmanager
    def _database(self, what: str) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.UndefinedTable:
            raise DatabaseUnavailable(
                f"cannot {what}: the database at {self._where} has no sink_offsets table "
                f"(run `floodwall db migrate`)"
            ) from None
        except psycopg.errors.LockNotAvailable:
            raise DatabaseUnavailable(
                f"cannot {what}: a row of sink_offsets stayed locked for {self.timeout_s:g} s "
                f"(a batch in flight?); nothing changed, try again"
            ) from None
        except psycopg.Error as exc:
            # libpq does not quote passwords; error_line makes sure no server or driver ever does either.
            message = error_line(exc, self._conninfo)
            raise DatabaseUnavailable(f"cannot {what} in the database at {self._where}: {message}") from None


def _database_target(database_url: str, timeout_s: float) -> tuple[str, str]:
    """``host:port/dbname`` for messages and the conninfo with a connect timeout (unless it has one)."""
    try:
        params = conninfo_to_dict(database_url)
    except psycopg.Error:
        # libpq's own message can quote the string, password included: say only what is wrong.
        raise ConfigError("database_url is not a valid libpq connection string or URL") from None
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    if "connect_timeout" in params:
        return where, database_url
    return where, make_conninfo(database_url, connect_timeout=str(max(1, round(timeout_s))))
