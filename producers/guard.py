"""Background loops that cannot die quietly.

:func:`guarded_loop` turns one step of a loop into a thread target: an exception from the step is logged
with its traceback, reported, and the step retried after an exponential back-off (tenacity). A loop
that fails ``give_up_after`` times in a row stops and hands the last exception to ``on_give_up``, which
surfaces it; nothing escapes the thread unlogged.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_never,
    stop_when_event_set,
    wait_exponential,
)

log = logging.getLogger(__name__)

# The signals an application handles in its main thread (Ctrl-C, a service manager's stop). The kernel
# hands a process-directed signal to any thread that does not block it; taken by an SDK thread, it does
# not interrupt a main thread blocked in a read (``floodwall produce`` waiting on stdin ignored Ctrl-C
# that way), so the SDK's threads block them and leave them to the main thread.
APPLICATION_SIGNALS = frozenset(
    {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2}
)


def guarded_loop(
    name: str,
    step: Callable[[], None],
    closing: threading.Event,
    on_error: Callable[[BaseException], None],
    on_give_up: Callable[[BaseException], None],
    give_up_after: int | None = 5,
    backoff_max_s: float = 2.0,
) -> Callable[[], None]:
    """A thread target calling ``step()`` until ``closing`` is set.

    Guarantees: every exception from ``step`` is logged (with traceback) and passed to ``on_error``; the
    step is retried after a back-off of 0.05 s doubling up to ``backoff_max_s``, waited on ``closing`` so
    close() is never held up. A success resets the count. After ``give_up_after`` consecutive failures
    (None: never) ``on_give_up(exc)`` is called and the thread ends. The thread blocks
    :data:`APPLICATION_SIGNALS`, so they reach the application's main thread. Never raises.
    """

    def attempt() -> None:
        try:
            step()
        except Exception as exc:
            log.exception("producer %s thread: step failed", name)
            on_error(exc)
            raise

    def before_sleep(state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("producer %s thread: retrying in %.2f s (failure %d)", name, wait, state.attempt_number)

    def backoff(seconds: float) -> None:
        closing.wait(seconds)  # a condition wait, not a sleep: close() ends the back-off at once

    retrying = Retrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_exponential(multiplier=0.05, max=backoff_max_s),
        stop=(stop_never if give_up_after is None else stop_after_attempt(give_up_after))
        | stop_when_event_set(closing),
        sleep=backoff,
        before_sleep=before_sleep,
        reraise=True,
    )

    def run() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, APPLICATION_SIGNALS)  # this thread only
        while not closing.is_set():
            try:
                retrying(attempt)
            except Exception as exc:
                if closing.is_set():
                    return  # failing while shutting down is not worth surfacing
                log.error("producer %s thread gave up after %s failures in a row", name, give_up_after)
                _call_safely(on_give_up, exc, name)
                return

    return run


def _call_safely(callback: Callable[[BaseException], None], exc: BaseException, name: str) -> None:
    try:
        callback(exc)
    except Exception:  # the surfacing itself failed: the log line is all that is left
        log.exception("producer %s thread: reporting its failure failed", name)
