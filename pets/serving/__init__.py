"""Traces, the serving loop (real and simulated executors), metrics, systems."""
from pets.serving.generate import TraceSpec, generate_trace
from pets.serving.loop import ServeConfig, ServingLoop
from pets.serving.metrics import Report
from pets.serving.replay import engine_for_trace, replay
from pets.serving.systems import SYSTEMS, make_system
from pets.serving.trace import Trace, TraceError, TraceRow, load_trace, save_trace

__all__ = ["SYSTEMS", "Report", "ServeConfig", "ServingLoop", "Trace", "TraceError", "TraceRow",
           "TraceSpec", "engine_for_trace", "generate_trace", "load_trace", "make_system", "replay",
           "save_trace"]
