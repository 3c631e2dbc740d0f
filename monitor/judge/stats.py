"""The distributions the judges test and forecast counts with, exact enough
for the counts a funnel has and without a numerical library: a stage's count
against its expectation (Poisson), a cohort's conversions against theirs
(binomial, widened to a beta-binomial when the planned rate was itself
learned from a sample), and the forecast's interval (Poisson quantiles)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from statistics import NormalDist

#: How far (in log) a term may lie below the largest and still count:
#: ``exp`` of anything below about -745 is 0.0 in double precision.
_NEGLIGIBLE = 800.0
#: Counts up to which a negative binomial tail is summed term by term.
_SUMMED_UP_TO = 20_000


def wilson_interval(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """The two-sided Wilson score interval for a proportion: it stays
    inside [0, 1] and keeps its coverage near 0 and 1 and on small samples,
    where the normal approximation does neither. Exactly 0 below when
    nothing succeeded and 1 above when everything did; (0, 1) for an empty
    sample."""
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    z2n = z * z / n
    centre = p + z2n / 2
    spread = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    low = 0.0 if successes == 0 else max(0.0, (centre - spread) / (1 + z2n))
    high = 1.0 if successes == n else min(1.0, (centre + spread) / (1 + z2n))
    return low, high


def binomial_lower_tail(k: int, n: int, p: float, *, mid: bool = False) -> float:
    """P(X ≤ k) for X ~ Binomial(n, p), summed in log space so thousands of
    trials neither underflow nor lose the tail. ``mid``: the mid-p value,
    P(X < k) + P(X = k) / 2, which keeps a test on a discrete count close to
    its nominal level instead of well below it."""
    if k < 0:
        return 0.0
    if k > n or (k == n and not mid) or p <= 0:
        return 1.0
    if p >= 1:
        return 0.0 if k < n else (0.5 if mid else 1.0)
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)

    def log_term(i: int) -> float:
        return base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q

    return _sum_tail(_unimodal_terms(k, log_term), mid)


def poisson_lower_tail(k: int, mean: float, *, mid: bool = False) -> float:
    """P(X ≤ k) for X ~ Poisson(mean); ``mid`` as for the binomial."""
    if k < 0:
        return 0.0
    if mean <= 0:
        return 1.0
    log_mean = math.log(mean)
    return _sum_tail(_unimodal_terms(k, lambda i: i * log_mean - mean - math.lgamma(i + 1)), mid)


def negative_binomial_lower_tail(
    k: int, mean: float, relative_variance: float, *, mid: bool = False
) -> float:
    """P(X ≤ k) for a Poisson count whose mean is itself only known to a
    relative variance (a target worked back through rates learned on a
    sample): the Gamma–Poisson mixture, a negative binomial with that mean
    and variance ``mean + mean² × relative_variance``. With an exact mean
    (``relative_variance`` 0) it is the Poisson tail."""
    if relative_variance <= 0 or mean <= 0:
        return poisson_lower_tail(k, mean, mid=mid)
    if k < 0:
        return 0.0
    shape = 1 / relative_variance
    p = shape / (shape + mean)
    log_p, log_q = math.log(p), math.log(mean / (shape + mean))
    base = shape * log_p - math.lgamma(shape)

    def log_term(i: int) -> float:
        return base + math.lgamma(shape + i) - math.lgamma(i + 1) + i * log_q

    if k <= _SUMMED_UP_TO:
        return _sum_tail(_unimodal_terms(k, log_term), mid)
    # A wide distribution has no negligible terms to leave out: past that
    # many, its tail is the regularised incomplete beta function.
    tail = _incomplete_beta(shape, k + 1, p)
    return min(1.0, tail - math.exp(log_term(k)) / 2 if mid else tail)


# The same-age comparison asks the same question every minute of a day (its
# cohorts are whole days), and at a busy CRM's counts each answer sums
# thousands of terms: answers are kept.
@functools.lru_cache(maxsize=1024)
def beta_binomial_lower_tail(
    k: int, n: int, p: float, relative_variance: float, *, mid: bool = False
) -> float:
    """P(X ≤ k) for ``n`` trials whose success rate is only known to a
    relative variance around ``p`` (a planning rate learned on a sample):
    the beta-binomial with that mean and variance of the rate. With an exact
    rate it is the binomial tail, as it is when the variance is too large
    for a beta distribution (then the test would mean nothing anyway)."""
    variance = p * p * relative_variance
    if variance <= 0 or not 0 < p < 1 or variance >= p * (1 - p):
        return binomial_lower_tail(k, n, p, mid=mid)
    if k < 0:
        return 0.0
    if k >= n and not mid:
        return 1.0
    total = p * (1 - p) / variance - 1
    a, b = p * total, (1 - p) * total
    base = math.lgamma(n + 1) + math.lgamma(total) - math.lgamma(a) - math.lgamma(b)
    base -= math.lgamma(n + total)

    def log_term(i: int) -> float:
        return (
            base
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + math.lgamma(i + a)
            + math.lgamma(n - i + b)
        )

    # With a, b >= 1 the terms rise to one peak and fall on either side of
    # it; below 1 they need not, and every term is kept.
    return _sum_tail(_unimodal_terms(min(k, n), log_term, peaked=a >= 1 and b >= 1), mid)


def rate_relative_variance(rate: float, sample: float | None) -> float:
    """How uncertain a rate learned as ``rate`` on ``sample`` records is,
    relative to itself: Var(p̂) / p² = (1 − p) / (p × n). Zero for a rate
    not learned (configured, committed, a goal)."""
    if not sample or not 0 < rate < 1:
        return 0.0
    return (1 - rate) / (rate * sample)


def _unimodal_terms(
    k: int, log_term: Callable[[int], float], *, peaked: bool = True
) -> list[float]:
    """The log terms 0..k of a distribution whose terms rise to one peak and
    fall on either side of it (``peaked``: binomial, Poisson, negative
    binomial), without those ``_NEGLIGIBLE`` below the largest: summed down
    from ``k``, once a term is that far below the largest so far every term
    below it is too, their weights are 0.0 and the sum is the same without
    them. A count of 100,000 is then a few thousand terms, not all of them."""
    terms: list[float] = []
    largest = -math.inf
    for i in range(k, -1, -1):
        term = log_term(i)
        if peaked and term < largest - _NEGLIGIBLE:
            break
        largest = max(largest, term)
        terms.append(term)
    terms.reverse()
    return terms


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued
    fraction (modified Lentz), taken on the side where it converges fast."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny, c, d = 1e-300, 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 100_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result


def _sum_tail(terms: list[float], mid: bool) -> float:
    """exp-sum of log terms without underflow; ``mid`` halves the last."""
    top = max(terms)
    weights = [math.exp(t - top) for t in terms]
    if mid:
        weights[-1] /= 2
    return min(1.0, math.exp(top) * math.fsum(weights))


def poisson_quantile(mean: float, share: float) -> int:
    """The smallest ``k`` with P(X ≤ k) ≥ ``share`` for X ~ Poisson(``mean``):
    summed term by term up to a mean of 500 (where ``exp(-mean)`` is still a
    normal float), and from the Cornish–Fisher expansion beyond, which is
    within one of the exact quantile there."""
    if not 0 < share < 1:
        raise ValueError(f"share must lie in (0, 1), not {share}")
    if mean <= 0:
        return 0
    if mean > 500:
        z = NormalDist().inv_cdf(share)
        return max(0, math.ceil(mean + z * math.sqrt(mean) + (z * z - 1) / 6 - 0.5))
    term = math.exp(-mean)
    total, k = term, 0
    while total < share:
        k += 1
        term *= mean / k
        total += term
    return k
