"""Measurement: timing in this process, peak memory in a worker process, the environment."""

from .inputs import case_inputs, case_rng
from .timing import Timing, time_call

__all__ = ["Timing", "case_inputs", "case_rng", "time_call"]
