"""The SDK: ``PromptOptimizer`` serves prompts from the registry, safely."""

from promptevolve.client.optimizer import PromptOptimizer, parse_json_output
from promptevolve.client.results import OptimizerStats, PromptHandle, RunResult

__all__ = ["OptimizerStats", "PromptHandle", "PromptOptimizer", "RunResult", "parse_json_output"]
