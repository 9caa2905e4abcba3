"""A plain timer: rounds of calls, and how far the rounds agree.

A round times ``number`` calls in a row, enough that it lasts ``min_round_time``
(the clock's resolution, the loop's overhead and a stray interrupt stay small
against it); its figure is seconds per call. A case's figure is the median of its
rounds and its spread is half their interquartile range relative to the median, as
asv prints ``1.23±0.04ms``: a stray round moves neither, and rounds that disagree
widen the spread. A ratio of two cases' figures has the sum of their spreads (as
relative errors of a quotient do).

A contender's rounds run one after the other, not interleaved call by call with
another contender's: on a machine of few cores, the threads of one library's pool
(OpenBLAS, OpenMP, Numba) still spin after its call and slow the next library's
(measured: 2-3x slower, with spreads of ±50-270%, where rounds in a row agree to a
few percent). ``fastgd/bench/run.py`` splits a row's baseline's rounds around its
other contenders instead, so that load that changes during the row widens the
baseline's spread.

Whether rounds disagree is decided from the rounds alone (``disagreements``), so
tests feed it rounds and need no clock.
"""

import time
from dataclasses import dataclass

# Rounds disagree when their spread (half the interquartile range over the median)
# is above this. On the 2-core machine of the docs' runs, quiet, the same call's time
# shifts by 15-30% from one second to the next (a plain NumPy loop too), and rounds in
# a row spread up to ±20% (95% of cases) or ±31% (the worst of 150); beside other
# programs' load they spread ±35% to ±270%.
TOLERANCE = 0.30
MIN_ROUND_TIME = 1e-3  # seconds a round lasts at least


@dataclass(frozen=True)
class Timing:
    times: tuple  # seconds per call, one per round, in the order the rounds ran
    number: int  # calls per round

    @property
    def rounds(self):
        return len(self.times)

    @property
    def best(self):
        return min(self.times)

    @property
    def median(self):
        return quantile(self.times, 0.5)

    @property
    def spread(self):
        return spread(self.times)


def quantile(values, q):
    """The ``q`` quantile of ``values``, interpolated linearly between order
    statistics (NumPy's default method).

    Examples
    --------
    >>> quantile([3.0, 1.0, 2.0], 0.5), quantile([1.0, 2.0, 3.0, 4.0], 0.25)
    (2.0, 1.75)
    """
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def spread(values):
    """Half the interquartile range of ``values`` over their median: 0.02 reads
    "±2%". One value has no spread (0).

    Examples
    --------
    >>> round(spread([1.0, 1.0, 1.02, 1.04, 0.98]), 4)
    0.01
    >>> round(spread([1.0, 1.0, 1.0, 1.0, 9.0]), 4)  # one stray round
    0.0
    """
    middle = quantile(values, 0.5)
    return (quantile(values, 0.75) - quantile(values, 0.25)) / 2 / middle


def ratio_spread(base_times, times):
    """The spread of the ratio "baseline time / time": the sum of the two spreads."""
    return spread(base_times) + spread(times)


def disagreements(times, tolerance=TOLERANCE):
    """The contenders of one row whose rounds disagree, and why.

    Parameters
    ----------
    times : dict
        Contender name -> its rounds' seconds per call.
    tolerance : float
        The largest spread of rounds that agree.

    Returns
    -------
    dict
        Name -> the reason, for each contender whose rounds disagree (empty if none).

    Examples
    --------
    >>> disagreements({"numpy": [1.0, 1.01, 0.99], "numba": [0.5, 0.5, 1.5]})
    {'numba': 'its rounds spread ±50%'}
    """
    return {
        name: f"its rounds spread {fmt_spread(spread(rounds))}"
        for name, rounds in times.items()
        if spread(rounds) > tolerance
    }


def fmt_spread(value):
    """A spread as printed: ±2%, ±0.4%, ±150%.

    Examples
    --------
    >>> fmt_spread(0.021), fmt_spread(0.0042), fmt_spread(1.5)
    ('±2%', '±0.4%', '±150%')
    """
    percent = 100 * value
    return f"±{percent:.1f}%" if percent < 0.95 else f"±{percent:.0f}%"


def calls_per_round(run, min_round_time=MIN_ROUND_TIME):
    """(calls that make a round of at least ``min_round_time``, the last result),
    found by doubling from one call."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            result = run()
        if time.perf_counter() - start >= min_round_time:
            return number, result
        number *= 2


def time_calls(
    run, rounds=None, max_time=0.2, min_rounds=3, min_round_time=MIN_ROUND_TIME, number=None
):
    """Time ``run()``: as many rounds as ``max_time`` seconds allow (at least
    ``min_rounds``), or exactly ``rounds`` single-call rounds.

    Warm-up (compilation, caches) is the caller's: every call here is timed.

    Parameters
    ----------
    run : callable
        Called without arguments.
    rounds : int, optional
        A fixed number of rounds, of ``number`` calls each (one by default).
    max_time : float
        Seconds of calls after which no new round starts (``rounds=None``).
    min_rounds : int
        Rounds run whatever ``max_time`` says (``rounds=None``).
    min_round_time : float
        Seconds a round lasts at least: shorter calls are repeated within it.
    number : int, optional
        Calls per round, as found before: no calibration.

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
    result = None
    if rounds is not None:
        number, min_rounds, max_time = number or 1, rounds, 0.0
    elif number is None:
        number, result = calls_per_round(run, min_round_time)
    times = []
    spent = 0.0
    while len(times) < min_rounds or (rounds is None and spent < max_time):
        start = time.perf_counter()
        for _ in range(number):
            result = run()
        elapsed = time.perf_counter() - start
        times.append(elapsed / number)
        spent += elapsed
    return Timing(tuple(times), number), result
