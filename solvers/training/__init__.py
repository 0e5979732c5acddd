"""Training: the driver loop (driver.train), the run it steps (session), the run's solver file
(solverfile), its logs (runlog: train.jsonl), snapshots (snapshots), the divergence rules
(divergence), the ln(C) hint (losscheck), signals (stop), the progress bar (progress), data
positions on resume (streams); cli: the command line of models/<m>/solve.py."""

from .driver import train
from .options import Divergence, TrainOptions

__all__ = ["Divergence", "TrainOptions", "train"]
