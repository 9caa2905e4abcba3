"""A plain timer: rounds of calls, contenders side by side, and how far the rounds agree.

A round times ``number`` calls in a row, enough that it lasts ``min_round_time``
(the clock's resolution, the loop's overhead and a stray interrupt stay small
against it); its figure is seconds per call. A case's figure is the median of its
rounds and its spread is half their interquartile range relative to the median, as
asv prints ``1.23±0.04ms``: a stray round moves neither, and rounds that disagree
widen the spread.

Contenders timed side by side (``time_side_by_side``) take their rounds in turn,
the baseline first in each sweep: load that comes and goes falls on all of them
alike, and round i of one contender ran beside round i of the others, so each round
gives a ratio of its own and the ratio's spread is that of these ratios.

Whether rounds disagree is decided from the rounds alone (``disagreements``), so
tests feed it rounds and need no clock.
"""

import time
from dataclasses import dataclass

# Rounds disagree when their spread (half the interquartile range over the median),
# or that of a contender's ratios to its baseline round by round, is above this.
TOLERANCE = 0.10


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


def ratio_spread(base_times, times, paired=True):
    """The spread of the ratio "baseline time / time". Rounds timed side by side
    (``paired``) give a ratio each, round i with round i; otherwise the two spreads
    add (as relative errors of a quotient do)."""
    if paired:
        return spread([b / t for b, t in zip(base_times, times)])
    return spread(base_times) + spread(times)


def disagreements(times, baseline=None, paired=True, tolerance=TOLERANCE):
    """The contenders of one row whose rounds disagree, and why.

    Parameters
    ----------
    times : dict
        Contender name -> its rounds' seconds per call, in the order they ran.
    baseline : str, optional
        The name of the row's baseline (its ratios' numerator).
    paired : bool
        Whether the rounds were timed side by side (then each contender's ratios to
        the baseline, round by round, must agree too).
    tolerance : float
        The largest spread of rounds that agree.

    Returns
    -------
    dict
        Name -> the reason, for each contender that disagrees (empty if none does).

    Examples
    --------
    >>> disagreements({"numpy": [1.0, 1.01, 0.99], "numba": [0.5, 0.5, 0.9]}, "numpy")
    {'numba': 'its rounds spread ±20%'}
    """
    reasons = {}
    for name, rounds in times.items():
        own = spread(rounds)
        if own > tolerance:
            reasons[name] = f"its rounds spread {fmt_spread(own)}"
        elif paired and baseline in times and name != baseline:
            ratio = ratio_spread(times[baseline], rounds)
            if ratio > tolerance:
                reasons[name] = f"its ratios to {baseline}'s rounds spread {fmt_spread(ratio)}"
    return reasons


def fmt_spread(value):
    """A spread as printed: ±2%, ±0.4%, ±150%.

    Examples
    --------
    >>> fmt_spread(0.021), fmt_spread(0.0042), fmt_spread(1.5)
    ('±2%', '±0.4%', '±150%')
    """
    percent = 100 * value
    return f"±{percent:.1f}%" if percent < 0.95 else f"±{percent:.0f}%"


def _calls_per_round(run, min_round_time):
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            result = run()
        if time.perf_counter() - start >= min_round_time:
            return number, result
        number *= 2


def time_side_by_side(runs, rounds=None, max_time=0.2, min_rounds=3, min_round_time=1e-3):
    """Time each of ``runs`` in rounds taken in turn: as many rounds as ``max_time``
    seconds of its calls allow (at least ``min_rounds``), or exactly ``rounds``
    single-call rounds.

    Every sweep times one round of each contender still under its budget, in the
    order of ``runs``; a contender that has spent its budget leaves the sweeps, so
    round i of any two contenders ran in the same sweep. Warm-up (compilation,
    caches) is the caller's: every call here is timed.

    Parameters
    ----------
    runs : dict
        Name -> a callable taking no arguments.
    rounds : int, optional
        A fixed number of rounds of one call each (for calls of a second or more).
    max_time : float
        Seconds of a contender's calls after which it takes no new round
        (``rounds=None``).
    min_rounds : int
        Rounds each contender runs whatever ``max_time`` says (``rounds=None``).
    min_round_time : float
        Seconds a round lasts at least: shorter calls are repeated within it.

    Returns
    -------
    dict
        Name -> (Timing, what its last call returned).

    Examples
    --------
    >>> timed = time_side_by_side({"a": lambda: 1, "b": lambda: 2}, rounds=3)
    >>> [(name, timing.rounds, result) for name, (timing, result) in timed.items()]
    [('a', 3, 1), ('b', 3, 2)]
    """
    numbers, results, spent = {}, {}, {}
    for name, run in runs.items():
        if rounds is None:
            numbers[name], results[name] = _calls_per_round(run, min_round_time)
        else:
            numbers[name] = 1
        spent[name] = 0.0
    times = {name: [] for name in runs}
    wanted = min_rounds if rounds is None else rounds

    def more(name):
        return len(times[name]) < wanted or (rounds is None and spent[name] < max_time)

    while any(more(name) for name in runs):
        for name, run in runs.items():
            if not more(name):
                continue
            number = numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                result = run()
            elapsed = time.perf_counter() - start
            times[name].append(elapsed / number)
            spent[name] += elapsed
            results[name] = result
    return {name: (Timing(tuple(times[name]), numbers[name]), results[name]) for name in runs}


def time_calls(run, rounds=None, max_time=0.2, min_rounds=3, min_round_time=1e-3):
    """Time ``run()`` alone: ``time_side_by_side`` of one contender.

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
    return time_side_by_side({"run": run}, rounds, max_time, min_rounds, min_round_time)["run"]
