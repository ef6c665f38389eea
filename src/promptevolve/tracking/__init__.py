"""Executions and feedback: the typed records of a call, the batch writer, the feedback service."""

from promptevolve.tracking.feedback import FeedbackIn, record_feedback, record_scores
from promptevolve.tracking.recorder import Recorder, RecorderStats
from promptevolve.tracking.records import ExecutionRecord, ExposureRecord, Record, ScoreRecord

__all__ = [
    "ExecutionRecord",
    "ExposureRecord",
    "FeedbackIn",
    "Record",
    "Recorder",
    "RecorderStats",
    "ScoreRecord",
    "record_feedback",
    "record_scores",
]
