"""Executions and feedback: the batch writer and the feedback service."""

from promptevolve.tracking.feedback import FeedbackIn, record_feedback, record_scores
from promptevolve.tracking.recorder import Recorder, RecorderStats

__all__ = ["FeedbackIn", "Recorder", "RecorderStats", "record_feedback", "record_scores"]
