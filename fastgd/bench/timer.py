"""A plain timer: the minimum over rounds of a call's wall time.

The minimum is the figure that other load on the machine inflates least. A call
shorter than ``min_round_time`` is repeated within a round so that the clock's
resolution and the loop's overhead stay small against what is measured.
"""

import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    best: float  # seconds per call, the minimum over rounds
    median: float  # seconds per call, the median over rounds
    rounds: int
    number: int  # calls per round


def _calls_per_round(run, min_round_time):
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            result = run()
        if time.perf_counter() - start >= min_round_time:
            return number, result
        number *= 2


def time_calls(run, rounds=None, max_time=0.2, min_rounds=3, min_round_time=5e-6):
    """Time ``run()``: as many rounds as ``max_time`` seconds allow (at least
    ``min_rounds``), or exactly ``rounds`` single-call rounds.

    Warm-up (compilation, caches) is the caller's: every call here is timed.

    Parameters
    ----------
    run : callable
        Called without arguments.
    rounds : int, optional
        A fixed number of rounds of one call each (for calls of a second or more).
    max_time : float
        Seconds of calls after which no new round starts (``rounds=None``).
    min_rounds : int
        Rounds run whatever ``max_time`` says (``rounds=None``).
    min_round_time : float
        Seconds a round lasts at least: shorter calls are repeated within it.

    Returns
    -------
    timing : Timing
    result : object
        What the last call returned.

    Examples
    --------
    >>> timing, result = time_calls(lambda: sum(range(100)), max_time=0.01)
    >>> result, timing.rounds >= 3, timing.best <= timing.median
    (4950, True, True)
    """
    if rounds is None:
        number, result = _calls_per_round(run, min_round_time)
    else:
        number, min_rounds, max_time = 1, rounds, 0.0
    times = []
    spent = 0.0
    while len(times) < min_rounds or (rounds is None and spent < max_time):
        start = time.perf_counter()
        for _ in range(number):
            result = run()
        elapsed = time.perf_counter() - start
        times.append(elapsed / number)
        spent += elapsed
    return Timing(min(times), statistics.median(times), len(times), number), result
