"""Generate a trace: profile (when) x workload (what) → encoded events in a trace file."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from floodwall.events.codec import EventSerializer
from floodwall.loadgen.generator import Generator, Workload
from floodwall.loadgen.profiles import DayCurve, FlashSale, Profile, Ramp, Steady, expected_events, schedule
from floodwall.loadgen.trace import Trace, TraceWriter, open_trace

TRACE_FORMAT = 1
_PROFILES: dict[str, type[Any]] = {
    "steady": Steady,
    "ramp": Ramp,
    "flash-sale": FlashSale,
    "day-curve": DayCurve,
}


def profile_to_json(profile: Profile) -> dict[str, Any]:
    return asdict(profile)  # type: ignore[call-overload, no-any-return]


def profile_from_json(data: dict[str, Any]) -> Profile:
    cls = _PROFILES[data["name"]]
    return cls(**data)  # type: ignore[no-any-return]


def header_of(profile: Profile, workload: Workload) -> dict[str, Any]:
    return {"format": TRACE_FORMAT, "profile": profile_to_json(profile), "workload": workload.to_json()}


def planned_events(profile: Profile, workload: Workload) -> int:
    """Events a trace of ``profile`` and ``workload`` holds (the initial restocks included)."""
    return workload.skus + expected_events(profile)


def generate_trace(
    path: Path,
    profile: Profile,
    workload: Workload,
    progress: Callable[[int], None] | None = None,
    serialize: EventSerializer | None = None,
) -> Trace:
    """Write the whole event stream of ``profile`` x ``workload`` to ``path`` and return it opened.

    ``progress`` is called with the number of events written so far every few thousand events.
    Deterministic: the same arguments write the same bytes.
    """
    serialize = serialize or EventSerializer()
    generator = Generator(workload)
    with TraceWriter(path, header_of(profile, workload)) as writer:
        stream = itertools.chain(generator.preload(), generator.events(schedule(profile)))
        for n, (t, event) in enumerate(stream, start=1):
            writer.write(t, event.key(), serialize(event))
            if progress is not None and n % 5000 == 0:
                progress(n)
        writer.close({"prediction": generator.model.prediction.to_json(), "preload": workload.skus})
    if progress is not None:
        progress(writer.records)
    return open_trace(path)
