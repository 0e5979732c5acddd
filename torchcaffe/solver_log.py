"""Caffe's glog-format solver log: lives in caffeio.glog (engine-neutral); kept here for imports."""

from caffeio.glog import WHERE, SolverLog, fmt_float, glog_prefix

__all__ = ["WHERE", "SolverLog", "fmt_float", "glog_prefix"]
