"""A training run, set up and stepped: everything the driver's loop needs, in one object.

`start(model, options)` picks the engine and its adapter (engine.adapter(): the same few
functions for BVLC pycaffe and torchcaffe), the device, the run folder (claimed for a fresh run,
solvers.runs), the run's solver file (solverfile), the solver, and the weights it starts from
(the staged init with interp on the fixed Deconvolutions, --weights, or --resume). The Run it
returns steps, scores, snapshots and publishes; the driver (solvers.training.driver) is a loop
over it.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import engine

from . import runlog
from .divergence import DivergenceWatch, after_update, final_weights
from .losscheck import LossCheck
from .options import TrainOptions
from .progress import BarStream, progress_bar
from .snapshots import SnapshotBook
from .solverfile import snapshot_prefix, write_run_solver

TRAIN_LOG = "train.jsonl"


@dataclass
class Run:
    """One training run in progress (rank `rank` of a torchrun job, 0 alone). eng: the engine
    adapter; record: the zoo's ModelRecord (heads scored, score interval); param: the run's
    SolverParameter (absolute paths); train_def: its train NetParameter; jsonl: train.jsonl,
    journal: this run's rows of it; lock: the run folder's lock (rank 0; None on other ranks)."""

    model: str
    options: TrainOptions
    eng: ModuleType
    rank: int
    record: Any
    folder: str
    jsonl: str
    journal: runlog.Journal
    param: Any
    train_def: Any
    log: Any
    solver: Any
    book: SnapshotBook
    watch: DivergenceWatch
    check: LossCheck
    stop_iter: int
    score_every: int
    lock: Any = None
    bar: Any = None

    @property
    def running(self) -> bool:
        """Iterations are left to run."""
        return self.solver.iter < self.stop_iter

    def step(self, stopper: Any) -> None:
        """Run up to the next scoring point (or the end) through the engine adapter."""
        it = self.solver.iter
        chunk = min(self.score_every - it % self.score_every, self.stop_iter - it)
        loss_blob = self.record.heads[0].loss
        self.eng.step(
            self.solver, chunk, self.on_iteration, stopper, self.log, self.param, loss_blob
        )

    def on_iteration(self, solver: Any, loss: float, lr: float | None) -> None:
        """After each update: the train.jsonl row, the bar, the divergence rules, the ln(C)
        hint."""
        skipped = getattr(solver, "last_step_skipped", False)
        if self.rank == 0:
            row = {"iter": solver.iter, "loss": loss, "lr": lr, "time": time.time()}
            if skipped:  # mixed precision: NaN/inf diffs, the update was not applied
                row.update(skipped=True, loss_scale=solver.loss_scale)
            self.journal.append(row)
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix(loss=f"{loss:.4g}")
        after_update(self.eng, solver, loss, self.watch, self.book, skipped)
        hint = self.check(solver.net, solver.iter)
        if hint and self.rank == 0:
            print(f"WARNING: {hint}", file=sys.stderr)

    def score_due(self) -> bool:
        """This rank scores now (rank 0, at a multiple of the score interval)."""
        return self.rank == 0 and self.solver.iter % self.score_every == 0

    def score(self) -> dict | None:
        """Score the eval split with the solver's test net (sharing the train net's weights):
        printed, and a train.jsonl row -> {head: metrics}, None without a test net."""
        from solvers.evaluation.score import image_count, report, seg_tests

        solver = self.solver
        net = solver.test_nets[0] if len(solver.test_nets) else None
        if net is None:
            return None
        if hasattr(net, "share_with"):
            net.share_with(solver.net)
        n = image_count(net, self.param.test_iter[0] if len(self.param.test_iter) else None)
        if self.options.score_images:
            n = min(n, self.options.score_images)
        results = seg_tests(net, n, self.record.heads)
        print(f">>> iteration {solver.iter}", file=sys.stderr)
        report(results, file=sys.stderr, per_class=False)
        self.journal.append({"iter": solver.iter, "scores": results})
        return results

    @property
    def model_file(self) -> str:
        """The caffemodel of the current iteration's snapshot."""
        return f"{self.book.stem(self.solver.iter)}.caffemodel"

    def final_snapshot(self) -> None:
        """Snapshot what we have, unless this run just wrote this iteration (every rank:
        torchcaffe's ranks save their random state)."""
        if not self.book.wrote(self.solver.iter):
            peak = final_weights(self.eng, self.solver, self.watch)
            self.eng.snapshot(self.solver, self.log, self.param)
            self.book.record(self.solver.iter, None, peak)

    def publish(self) -> str:
        """Copy the last snapshot's weights to <run>/<model>.caffemodel (atomically) -> path."""
        import caffeio

        final = os.path.join(self.folder, f"{self.model}.caffemodel")
        with open(self.model_file, "rb") as f:
            caffeio.atomic_write(final, f.read())
        print(f"{self.model}: trained weights {final}", file=sys.stderr)
        return final

    def release(self) -> None:
        """Give the run folder back (rank 0's lock; nothing on other ranks)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def write_failed(self, e: OSError) -> SystemExit:
        """The error for a snapshot or log that cannot be written (full disk, read-only
        folder), naming how to go on."""
        good = self.book.latest_good()
        where = getattr(e, "filename", None) or "the run files"
        state = good[0][: -len(".caffemodel")] + ".solverstate" if good else None
        return SystemExit(
            f"error: cannot write {where} in {self.folder} ({e.strerror or e}): free disk "
            "space or make the folder writable, then "
            + (f"resume with --resume {os.path.abspath(state)}" if state else "run again")
        )

    def stopped(self, signal_name: str) -> None:
        """Say where a run stopped by a signal can resume (rank 0)."""
        if self.rank == 0:
            state = f"{self.book.stem(self.solver.iter)}.solverstate"
            print(
                f"{signal_name}: stopped at iteration {self.solver.iter}; snapshot "
                f"{self.model_file} (resume with --resume {state})",
                file=sys.stderr,
            )


def _open_engine(options: TrainOptions) -> tuple[ModuleType, ModuleType, int, int, int, str]:
    """The engine and its adapter, torchrun's (rank, world, local rank), the device name."""
    engine.refuse_precision(options.engine, options.precision)  # before importing an engine
    caffe = engine.use(options.engine)
    eng = engine.adapter()
    rank, world, local = eng.distributed(options.gpu)
    if rank == 0:
        engine.announce()
    device = eng.set_device(caffe, options.gpu, local)
    eng.check_precision(options.precision, device)
    return caffe, eng, rank, world, local, device


def _settings(options: TrainOptions) -> tuple:
    """(runs, width, data_root, normalize, recipe, batch, crop): what names the run folder."""
    o = options
    runs = os.path.abspath(o.runs) if o.runs else None
    return runs, o.width, o.data_root, o.normalize, o.recipe, o.batch, o.crop


def _take_folder(model: str, options: TrainOptions) -> tuple[Any, str]:
    """Rank 0: the lock of the run folder (with --new-run, of the first free folder beside
    it) and this run's id (a resumed run keeps the id of the run it continues)."""
    from solvers.runs import claim
    from solvers.runs import lock as runlock
    from solvers.runs.folder import run_path

    usual = run_path(model, *_settings(options))
    if options.new_run:
        held = runlock.acquire_free(usual, claim.holds_snapshots)
    else:
        held = runlock.acquire(usual)
    run_id = None
    if options.resume:
        stem = os.path.abspath(options.resume)[: -len(".solverstate")]
        run_id = runlog.run_of_snapshot(os.path.join(held.folder, "snapshot", TRAIN_LOG), stem)
    return held, run_id or runlog.new_run_id()


def _own_folder(model: str, options: TrainOptions, rank: int, eng: ModuleType):
    """The run folder is this run's alone while it lives (solvers.runs.lock): rank 0 takes
    it, the other ranks of a torchrun job share it -> (folder, run id, lock or None)."""
    from solvers.runs.folder import RunSetupError

    held, outcome = None, None
    if rank == 0:
        try:
            held, run_id = _take_folder(model, options)
            outcome = (held.folder, run_id, None)
        except RunSetupError as e:
            outcome = (None, None, str(e.code))
    folder, run_id, refusal = eng.broadcast(outcome)
    if refusal:
        raise SystemExit(refusal)
    return folder, run_id, held


def _setup_failed(e: OSError, folder: str) -> SystemExit:
    """One line for a run that cannot set up its folder (read-only, full disk)."""
    import errno

    from caffeio.errors import CaffeWriteError

    if isinstance(e, CaffeWriteError):
        return SystemExit(f"error: {e}")
    where = e.filename or folder
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        place = os.path.dirname(where) if e.filename else folder
        todo = f"make {place} writable, or train elsewhere with --runs <a writable folder>"
    elif e.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = "free disk space (or train elsewhere with --runs), then run again"
    else:
        todo = "check that path, then run again"
    return SystemExit(f"error: {where}: {e.strerror or e} (starting the run): {todo}")


def _claim(folder: str, jsonl: str, options: TrainOptions, rank: int, eng: ModuleType) -> None:
    """A fresh run never adopts an earlier run's snapshots (rank 0 moves them, if told to);
    temporary files of interrupted writes are removed."""
    from solvers.runs import claim

    prefix = snapshot_prefix(folder)
    if not options.resume:
        note = claim.claim(folder, prefix, jsonl, options.overwrite, act=rank == 0)
        claim.say(note if rank == 0 else None)
    eng.barrier()
    if rank == 0:
        n = claim.remove_temps(folder, prefix)
        claim.say(f"removed {n} temporary file(s) of interrupted writes" if n else None)


def _resume(run: Run, path: str) -> None:
    """Continue from solverstate `path`: weights, history, lr step and data position."""
    from .streams import seek_data

    note = run.eng.restore(run.solver, path, run.folder)
    seek_data(run.solver.net, run.solver.iter * run.param.iter_size)
    run.book.expect_forward(run.solver.iter)  # the next forward verifies the snapshot
    if run.rank == 0:
        runlog.truncate_after(run.jsonl, run.solver.iter)
        print(f"resumed from {path} at iteration {run.solver.iter}", file=sys.stderr)
        if note:
            print(note, file=sys.stderr)


def _initialise(run: Run, weights: str, device: str) -> None:
    """Copy the base weights into the train net; bilinear kernels into every fixed
    Deconvolution (interp)."""
    import surgery

    run.eng.copy_weights(run.solver.net, weights, run.train_def)
    deconvs = fixed_deconvolutions(run.solver, run.train_def)
    if deconvs:
        surgery.interp(run.solver.net, deconvs, verbose=False, definition=run.train_def)
    if run.rank == 0:
        print(
            f"{run.model}: weights {weights}; interp on {', '.join(deconvs) or 'none'}; "
            f"{device}; run folder {run.folder}",
            file=sys.stderr,
        )


def fixed_deconvolutions(solver: Any, net: Any) -> list[str]:
    """Deconvolution layers whose weights do not learn (FCN's upsampling): interp targets."""
    out = []
    for layer in net.layer:
        if layer.type == "Deconvolution" and layer.name in solver.net.params:
            if len(layer.param) and all(p.lr_mult == 0 for p in layer.param):
                out.append(layer.name)
    return out


def start(model: str, options: TrainOptions) -> Run:
    """Set up the training of `model` (a zoo model name) as `options` say -> a Run at its
    first (or resumed) iteration, holding its run folder (Run.release gives it back; the
    process's end does too, however it ends)."""
    from solvers.runs.folder import run_dir

    caffe, eng, rank, world, _, device = _open_engine(options)
    folder, run_id, held = _own_folder(model, options, rank, eng)
    try:
        folder = run_dir(model, *_settings(options), folder=folder)
        run = _setup(model, options, (caffe, eng, rank, world, device), folder, run_id)
    except OSError as e:
        if held is not None:
            held.release()
        raise _setup_failed(e, folder) from None
    except BaseException:
        if held is not None:
            held.release()
        raise
    run.lock = held
    return run


def _setup(model: str, options: TrainOptions, opened: tuple, folder: str, run_id: str) -> Run:
    """The Run in `folder` (owned): claim, solver file, base weights, solver, restore or
    initialise. opened: (caffe, adapter, rank, world, device) from _open_engine."""
    import caffeio
    import zoo
    from caffeio.glog import SolverLog
    from solvers.runs.base_weights import base_weights

    caffe, eng, rank, world, device = opened
    record = zoo.record(model)
    jsonl = os.path.join(folder, "snapshot", TRAIN_LOG)
    _claim(folder, jsonl, options, rank, eng)
    solver_path, param = write_run_solver(folder, options, rank, world)
    weights = None
    if not options.resume:  # fail fast, before building nets, when the base weights are missing
        weights = options.weights and os.path.abspath(options.weights)
        weights = weights or base_weights(model, folder, os.path.dirname(folder), options.width)
    log = SolverLog(os.path.join(folder, "snapshot", "train.log"), enabled=rank == 0)
    train_def = caffeio.read_net(param.train_net or param.net)
    solver = eng.make_solver(caffe, solver_path, log, precision=options.precision)
    d = options.divergence
    journal = runlog.Journal(jsonl, run_id, enabled=rank == 0)
    run = Run(
        model, options, eng, rank, record, folder, jsonl, journal, param, train_def, log, solver,
        book=SnapshotBook(param.snapshot_prefix, journal, param.snapshot),
        watch=DivergenceWatch(d.loss, d.window, d.weights, d.check_every),
        check=LossCheck(train_def, options.hint_iters),
        stop_iter=0,
        score_every=options.score_every or record.score_every,
    )  # fmt: skip
    if options.resume:
        _resume(run, os.path.abspath(options.resume))
    else:
        _initialise(run, weights, device)
    _say_precision(run)
    total = options.iters if options.iters is not None else param.max_iter - solver.iter
    run.stop_iter = solver.iter + total
    run.watch.start(eng.max_abs_weight(solver))
    run.bar = progress_bar(total, options.progress and rank == 0)
    if run.bar is not None:
        log.stream = BarStream(run.bar)
    return run


def _say_precision(run: Run) -> None:
    if run.rank == 0 and run.options.precision != "fp32":
        s = run.solver
        print(
            f"mixed precision {run.options.precision}: layers under autocast, fp32 weights and "
            f"snapshots; loss scale {getattr(s, 'loss_scale', 1.0):g}, skipped steps so far "
            f"{getattr(s, 'skipped_steps', 0)}",
            file=sys.stderr,
        )
