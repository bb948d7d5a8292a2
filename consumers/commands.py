"""``floodwall consume`` — run one member of the sink fleet until SIGTERM/Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
from types import FrameType

from floodwall.cliargs import add_settings_command, settings_from_args
from floodwall.consumers.config import ConsumerSettings
from floodwall.consumers.loop import SinkConsumer
from floodwall.db.config import resolve_database_url


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_settings_command(
        commands,
        "consume",
        ConsumerSettings,
        _consume,
        help="run one consumer of the sink fleet (orders + inventory topics -> PostgreSQL)",
        description="Join the sink's consumer group and apply order and inventory events to PostgreSQL "
        "exactly once, in batches (one transaction each, offsets stored with the rows). Undecodable or "
        "invalid events go to the dead-letter topic with the reason. SIGTERM or Ctrl-C finishes the "
        "current batch and leaves the group.",
    )


def _consume(args: argparse.Namespace) -> int:
    settings = settings_from_args(ConsumerSettings, args)
    database_url = resolve_database_url(settings.database_url, settings.state_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    consumer = SinkConsumer(settings, database_url)

    def graceful(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info(
            "%s: finishing the batch and leaving the group", signal.Signals(signum).name
        )
        consumer.stop()

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)
    consumer.run()
    return 0
