"""The run's budget in model calls and tokens: estimated before each call, never exceeded.

Every model call of a run, whether it proposes a prompt or evaluates one, first asks the meter for a
**reservation**: one call and an upper bound of its tokens (``estimate_tokens``). The call happens only
if the reservation fits under both limits together with what is already spent; afterwards the meter
charges the tokens the provider reported (at most the reservation, by construction of the bound) and
frees the rest. A call that fails still counts as a call.

The token bound: byte-level BPE tokenizers (SmolLM2's, OpenAI's) never produce more tokens than the
UTF-8 bytes of the text, so ``bytes + per-message overhead + max_tokens`` bounds a call; it is loose
(about four times the real prompt tokens) but only decides the last few calls of a run. The scripted
provider counts words, fewer than bytes, so the bound holds for it too.

``set_aside`` keeps part of the budget for a later stage (validation), so the search cannot spend what
choosing the winner needs. Calls are counted by purpose: ``proposal`` (the optimizer model writing a
candidate), ``train`` and ``validation`` (candidates answering items); these are the **optimization
calls** a ``--budget`` pays for. The gate's test stage runs on a meter of its own (purpose ``test``), so
its calls are counted and reported apart. The meter is created per run and is safe to share between
threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from promptevolve.core.types import ModelSettings, RenderedPrompt

__all__ = ["Budget", "BudgetMeter", "Reservation", "Spend", "estimate_tokens"]

#: Tokens a chat template adds around each message, and once per prompt (a default system prompt).
MESSAGE_OVERHEAD = 8
PROMPT_OVERHEAD = 48


class Budget(BaseModel):
    """What a run may spend: model calls (required) and tokens (prompt + completion, optional)."""

    model_config = ConfigDict(frozen=True)

    max_calls: int = Field(ge=1, description="Model calls: proposals, train and validation evaluations")
    max_tokens: int | None = Field(default=None, ge=1, description="Prompt plus completion tokens")


@dataclass(frozen=True, slots=True)
class Reservation:
    purpose: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Spend:
    """What a run (or one of its stages) spent, by purpose.

    ``evaluation_calls`` counts every call that answered an item (train, validation and test together);
    ``validation_calls`` and ``test_calls`` are the parts of it spent on those splits.
    """

    calls: int
    tokens: int
    proposal_calls: int
    evaluation_calls: int
    failed_calls: int
    refused: int
    validation_calls: int = 0
    test_calls: int = 0

    @property
    def train_calls(self) -> int:
        return self.evaluation_calls - self.validation_calls - self.test_calls

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            *(getattr(self, name) + getattr(other, name) for name in _SPEND_FIELDS),
        )


_SPEND_FIELDS = (
    "calls",
    "tokens",
    "proposal_calls",
    "evaluation_calls",
    "failed_calls",
    "refused",
    "validation_calls",
    "test_calls",
)


def estimate_tokens(prompt: RenderedPrompt, settings: ModelSettings) -> int:
    """An upper bound of the tokens one call can use (see the module docstring)."""
    if prompt.messages:
        body = sum(len(m.content.encode()) + len(m.role) + MESSAGE_OVERHEAD for m in prompt.messages)
    else:
        body = len((prompt.text or "").encode())
    return body + PROMPT_OVERHEAD + settings.max_tokens


class BudgetMeter:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        self._calls = self._tokens = 0
        self._held_calls = self._held_tokens = 0
        self._aside_calls = self._aside_tokens = 0
        self._by_purpose: dict[str, int] = {}
        self._failed = self._refused = 0

    def reserve(self, prompt: RenderedPrompt, settings: ModelSettings, *, purpose: str) -> Reservation | None:
        """A reservation for one call, or None when it would not fit (counted as refused)."""
        tokens = estimate_tokens(prompt, settings)
        with self._lock:
            if not self._fits(1, tokens):
                self._refused += 1
                return None
            self._held_calls += 1
            self._held_tokens += tokens
            return Reservation(purpose, tokens)

    def settle(self, reservation: Reservation, tokens_used: int | None) -> None:
        """Charge a finished call (``None``: it failed, so it costs a call and no tokens)."""
        with self._lock:
            self._held_calls -= 1
            self._held_tokens -= reservation.tokens
            self._calls += 1
            self._tokens += max(0, tokens_used or 0)
            self._by_purpose[reservation.purpose] = self._by_purpose.get(reservation.purpose, 0) + 1
            self._failed += tokens_used is None

    def can_afford(self, calls: int, tokens: int = 0) -> bool:
        with self._lock:
            return self._fits(calls, tokens)

    @contextmanager
    def set_aside(self, calls: int, tokens: int = 0) -> Iterator[None]:
        """Inside the block, ``calls`` and ``tokens`` are unavailable (kept for a later stage)."""
        with self._lock:
            self._aside_calls += calls
            self._aside_tokens += tokens
        try:
            yield
        finally:
            with self._lock:
                self._aside_calls -= calls
                self._aside_tokens -= tokens

    def spend(self) -> Spend:
        with self._lock:
            by = self._by_purpose
            return Spend(
                calls=self._calls,
                tokens=self._tokens,
                proposal_calls=by.get("proposal", 0),
                evaluation_calls=sum(n for purpose, n in by.items() if purpose != "proposal"),
                failed_calls=self._failed,
                refused=self._refused,
                validation_calls=by.get("validation", 0),
                test_calls=by.get("test", 0),
            )

    @property
    def remaining_calls(self) -> int:
        with self._lock:
            return self.budget.max_calls - self._calls - self._held_calls - self._aside_calls

    def _fits(self, calls: int, tokens: int) -> bool:
        if self._calls + self._held_calls + self._aside_calls + calls > self.budget.max_calls:
            return False
        limit = self.budget.max_tokens
        return limit is None or self._tokens + self._held_tokens + self._aside_tokens + tokens <= limit
