"""Run callables truly at once: each in its own thread with its own database
connection, released together by a barrier."""

import threading
from collections.abc import Callable

from django.db import connection


def race(*calls: Callable[[], object]) -> list[object]:
    """Return, in call order, each call's result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            # Connect first: opening a connection takes milliseconds, which would
            # spread the calls out instead of starting them together.
            connection.ensure_connection()
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def errors(outcomes: list[object]) -> list[Exception]:
    return [outcome for outcome in outcomes if isinstance(outcome, Exception)]
