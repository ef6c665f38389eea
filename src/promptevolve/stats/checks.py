"""Input checks shared by the statistics: what no data can produce is refused, loudly.

Two kinds of doubtful input, two conventions, applied by every function of ``promptevolve.stats``:

- **Too little or degenerate data** (an arm with one unit, a control mean of 0, no spread) is the
  normal state of a young experiment: the function returns a result whose ``Status`` says so
  (``result.py``), as gbstats returns an error message with a default output.
- **Input that no data can produce** (a NaN or negative count, a count that is not a whole number,
  more successes than units, a sum of squares below what the sum implies) and **parameters outside
  their domain** (``alpha`` of 0, 1, 1.5 or NaN; a ``tuning`` or ``tau_sq`` of 0) are a bug in the
  caller. Answering them would produce a confident number from nonsense (issue 14: a NaN count gave an
  SRM check that passed), so they raise ``ValidationError`` naming the function, the parameter, the
  value and the domain.

The checks are scalar and cheap; the vectorised helpers (``cs_*``, ``msprt_*``) check only their scalar
parameters, so simulations over arrays pay nothing per element.
"""

from __future__ import annotations

import math
from numbers import Real

from promptevolve.core.errors import ValidationError

__all__ = ["check_count", "check_finite", "check_positive", "check_probability"]


def _real(where: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValidationError(f"{where}: {name} must be a number, got {value!r}")
    return float(value)


def check_probability(where: str, name: str, value: object) -> float:
    """``value`` strictly between 0 and 1 (``alpha``, a power, a prior probability)."""
    number = _real(where, name, value)
    if not 0.0 < number < 1.0:  # also refuses NaN
        raise ValidationError(f"{where}: {name} must lie strictly between 0 and 1, got {value!r}")
    return number


def check_positive(where: str, name: str, value: object) -> float:
    """A finite ``value`` above 0 (a tuning size, a mixture or prior variance, a prior count)."""
    number = _real(where, name, value)
    if not (math.isfinite(number) and number > 0.0):
        raise ValidationError(f"{where}: {name} must be a finite number above 0, got {value!r}")
    return number


def check_finite(where: str, name: str, value: object) -> float:
    """A finite ``value`` (a sum, a mean)."""
    number = _real(where, name, value)
    if not math.isfinite(number):
        raise ValidationError(f"{where}: {name} must be a finite number, got {value!r}")
    return number


def check_count(where: str, name: str, value: object) -> float:
    """A whole number of at least 0 (units, successes, observed units per arm)."""
    number = _real(where, name, value)
    if not (math.isfinite(number) and number >= 0.0 and number.is_integer()):
        raise ValidationError(f"{where}: {name} must be a whole number of at least 0, got {value!r}")
    return number
