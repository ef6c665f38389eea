"""The SDK: ``PromptOptimizer`` (and ``AsyncPromptOptimizer``) serve prompts from the registry, safely."""

from promptevolve.client.aio import AsyncPromptOptimizer
from promptevolve.client.optimizer import PromptOptimizer, parse_json_output
from promptevolve.client.results import OptimizerStats, PromptHandle, RunResult

__all__ = [
    "AsyncPromptOptimizer",
    "OptimizerStats",
    "PromptHandle",
    "PromptOptimizer",
    "RunResult",
    "parse_json_output",
]
