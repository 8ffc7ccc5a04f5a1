"""Pure rules of experiments: who is held out or gets which variant, and what the numbers mean.

Assignment is a sticky hash, never a stored coin toss: a user's place in [0, 1) for a campaign
is blake2b of (campaign id, user key) read as a 64-bit fraction, so re-entry, restarts and
replicas all put the same user in the same group, without a table. The holdout and the variant
draw from two independent hashes (a different `person` each), so changing the holdout's size
never reshuffles who gets which variant, and vice versa. The workspace's global control group
draws from a hash of (workspace id, user key).

The user key is the user's user id (Segment's userId), or herald's profile id for a user known
only by anonymous ids.

Lift and confidence (per goal, treatment = sent, control = held out):

    rate_t = conversions_t / n_t          rate_c = conversions_c / n_c
    lift   = (rate_t - rate_c) / rate_c   (None when rate_c is 0)
    pooled = (conversions_t + conversions_c) / (n_t + n_c)
    z      = (rate_t - rate_c) / sqrt(pooled * (1 - pooled) * (1/n_t + 1/n_c))
    confidence = 1 - p_two_sided = erf(|z| / sqrt(2))

the two-proportion z-test. Below MIN_GROUP_SIZE users in either group, confidence is None
("not enough data"): the normal approximation behind the test is not to be trusted there.

A variant's chance to beat the first: with uniform priors each variant's conversion rate has
the posterior Beta(1 + conversions, 1 + sent - conversions), and P(p_B > p_A) is computed
exactly (Evan Miller's closed form, a sum of as many terms as the smaller alpha, in log space);
past EXACT_TERMS terms it uses the normal approximation of the two Betas. Deterministic:
no sampling.

Imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

MIN_GROUP_SIZE = 100
EXACT_TERMS = 20_000
_SCALE = float(1 << 64)
NOT_ENOUGH_DATA = "not enough data"


def user_key(user_id: str, profile_id: str) -> str:
    """Who a user is for assignment: the user id, else (anonymous) the profile id."""
    return user_id or profile_id


def bucket(scope: str, key: str, *, purpose: bytes) -> float:
    """A uniform number in [0, 1) for (scope, key): the same every time it is asked."""
    digest = hashlib.blake2b(f"{scope}\x1f{key}".encode(), digest_size=8, person=purpose).digest()
    return int.from_bytes(digest, "big") / _SCALE


HOLDOUT = b"herald-holdout"
VARIANT = b"herald-variant"
GLOBAL_CONTROL = b"herald-global"


def in_holdout(campaign_id: str, key: str, fraction: float) -> bool:
    return fraction > 0 and bucket(campaign_id, key, purpose=HOLDOUT) < fraction


def in_global_control(workspace_id: str, key: str, fraction: float) -> bool:
    return fraction > 0 and bucket(workspace_id, key, purpose=GLOBAL_CONTROL) < fraction


def choose_variant(campaign_id: str, key: str, weights: Sequence[int]) -> int:
    """The index of the user's variant, with probability weight / sum(weights)."""
    edges = list(accumulate(weights))
    point = bucket(campaign_id, key, purpose=VARIANT) * edges[-1]
    return min(bisect_right(edges, point), len(weights) - 1)


# ---- the numbers ------------------------------------------------------------------------------


def rate(conversions: int, size: int) -> float:
    return conversions / size if size else 0.0


def lift(treatment_rate: float, control_rate: float) -> float | None:
    """(treatment - control) / control; None without a control rate to compare with."""
    if control_rate <= 0:
        return None
    return (treatment_rate - control_rate) / control_rate


def z_score(conversions_t: int, n_t: int, conversions_c: int, n_c: int) -> float | None:
    if n_t <= 0 or n_c <= 0:
        return None
    pooled = (conversions_t + conversions_c) / (n_t + n_c)
    variance = pooled * (1 - pooled) * (1 / n_t + 1 / n_c)
    if variance <= 0:
        return 0.0  # both groups all converted, or none did: no difference to see
    return (conversions_t / n_t - conversions_c / n_c) / math.sqrt(variance)


def confidence(conversions_t: int, n_t: int, conversions_c: int, n_c: int,
               *, min_group_size: int = MIN_GROUP_SIZE) -> float | None:
    """1 - the two-sided p-value of the two-proportion z-test; None below min_group_size in
    either group (not enough data)."""
    if n_t < min_group_size or n_c < min_group_size:
        return None
    z = z_score(conversions_t, n_t, conversions_c, n_c)
    return math.erf(abs(z) / math.sqrt(2)) if z is not None else None


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def beta_beats(alpha_b: int, beta_b: int, alpha_a: int, beta_a: int) -> float:
    """P(X_B > X_A) for X_B ~ Beta(alpha_b, beta_b), X_A ~ Beta(alpha_a, beta_a), whole-number
    parameters >= 1 (Evan Miller, "Formulas for Bayesian A/B testing"):

        sum_{i=0}^{alpha_b - 1} B(alpha_a + i, beta_a + beta_b) / ((beta_b + i) B(1 + i, beta_b) B(alpha_a, beta_a))
    """
    if min(alpha_a, alpha_b) > EXACT_TERMS:
        return _normal_beats(alpha_b, beta_b, alpha_a, beta_a)
    if alpha_b > alpha_a:
        # The sum has alpha_b terms; the complement's has alpha_a (ties have probability 0).
        return 1.0 - beta_beats(alpha_a, beta_a, alpha_b, beta_b)
    total = 0.0
    base = _log_beta(alpha_a, beta_a)
    for i in range(alpha_b):
        total += math.exp(_log_beta(alpha_a + i, beta_a + beta_b) - math.log(beta_b + i)
                          - _log_beta(1 + i, beta_b) - base)
    return min(1.0, max(0.0, total))


def _normal_beats(alpha_b: int, beta_b: int, alpha_a: int, beta_a: int) -> float:
    def moments(a: int, b: int) -> tuple[float, float]:
        mean = a / (a + b)
        return mean, a * b / ((a + b) ** 2 * (a + b + 1))

    mean_b, var_b = moments(alpha_b, beta_b)
    mean_a, var_a = moments(alpha_a, beta_a)
    spread = math.sqrt(var_a + var_b)
    return 0.5 * (1 + math.erf((mean_b - mean_a) / (spread * math.sqrt(2)))) if spread else 0.5


def chance_to_beat(conversions_b: int, sent_b: int, conversions_a: int, sent_a: int) -> float:
    """The chance variant B's true rate is above A's, with uniform priors."""
    return beta_beats(1 + conversions_b, 1 + sent_b - conversions_b, 1 + conversions_a, 1 + sent_a - conversions_a)


@dataclass(frozen=True)
class GroupComparison:
    treatment_size: int
    treatment_conversions: int
    control_size: int
    control_conversions: int

    @property
    def treatment_rate(self) -> float:
        return rate(self.treatment_conversions, self.treatment_size)

    @property
    def control_rate(self) -> float:
        return rate(self.control_conversions, self.control_size)

    @property
    def lift(self) -> float | None:
        return lift(self.treatment_rate, self.control_rate) if self.control_size else None

    @property
    def confidence(self) -> float | None:
        return confidence(self.treatment_conversions, self.treatment_size, self.control_conversions, self.control_size)

    @property
    def enough_data(self) -> bool:
        return self.treatment_size >= MIN_GROUP_SIZE and self.control_size >= MIN_GROUP_SIZE
