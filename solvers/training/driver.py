"""The training driver behind every models/<m>/solve.py.

    python models/voc-fcn32s/solve.py [--iters N] [--weights W] [--resume S.solverstate]
    torchrun --nproc_per_node 2 models/voc-fcn32s/solve.py     # DDP, gradients averaged

Base weights are the release's staged inits (surgery makes them when missing); every fixed
Deconvolution gets bilinear kernels (interp); training steps through the solver with the eval
split scored every --score-every iterations. Nothing is lost: snapshots are atomic, Ctrl-C or
SIGTERM snapshots and exits, a NaN/inf loss stops before it touches the weights, and
--resume continues exactly (same weights, history, lr step and data position).
"""

import argparse
import math
import os
import signal
import sys
import time

import engine
from engine import Diverged

from . import runlog
from .divergence import DivergenceWatch

TRAIN_LOG = "train.jsonl"
PRECISIONS = ("fp32", "fp16", "bf16")


def _factor(text):
    """argparse type: a finite number >= 0 (0 turns a divergence rule off)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def parse_args(model, argv):
    from netspec.argtypes import positive_int, positive_width

    p = argparse.ArgumentParser(
        prog=f"models/{model}/solve.py", description=f"Train {model} with the release's recipe."
    )
    p.add_argument("--engine", choices=engine.CHOICES, help="default: FCN_ENGINE, else auto")
    p.add_argument("--gpu", type=int, default=None, help="GPU id (-1: CPU; default 0 if CUDA)")
    p.add_argument("--weights", help="caffemodel copied into the net (default: staged init)")
    p.add_argument("--iters", type=int, help="iterations to run (default: solver max_iter)")
    p.add_argument("--snapshot-every", type=int, help="default: the solver's snapshot")
    p.add_argument(
        "--score-every", type=positive_int, help="score the eval split every N iterations"
    )
    p.add_argument("--score-images", type=positive_int, help="score only the first N eval images")
    p.add_argument("--resume", help="continue from a .solverstate")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="fresh run in a folder holding an earlier run's snapshots: move them aside first",
    )
    p.add_argument("--width", type=positive_width, default=1.0, help="channel width multiplier")
    p.add_argument(
        "--recipe", choices=("caffe", "torchvision"), help="FCN-ResNets: training recipe (caffe)"
    )
    p.add_argument(
        "--batch", type=positive_int, help="FCN-ResNets: images per forward (iter_size makes up)"
    )
    p.add_argument(
        "--crop", type=positive_int, help="FCN-ResNets: crop side instead of the recipe's"
    )
    p.add_argument(
        "--max-iter",
        type=positive_int,
        help="schedule length (solver max_iter: poly lr ends there)",
    )
    p.add_argument("--data-root", help="dataset root (default data/)")
    p.add_argument("--runs", help="folder holding <model>/ run folders (and ilsvrc-nets/)")
    p.add_argument("--lr", type=float, help="override base_lr (small runs)")
    p.add_argument("--normalize", action="store_true", help="loss normalised per valid pixel")
    p.add_argument("--display", type=int, help="override the solver's display interval")
    p.add_argument("--seed", type=int, help="random_seed (dropout masks, fillers): repeatable runs")
    p.add_argument("--hint-iters", type=int, default=20, help="iterations for the ln(C) check")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default, Caffe's exact arithmetic), or mixed precision on torchcaffe: bf16, "
        "fp16 (dynamic loss scaling); weights, diffs and snapshots stay fp32",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("divergence (stop before the loss is NaN; 0 turns a rule off)")
    g.add_argument(
        "--diverge-loss",
        type=_factor,
        default=1e3,
        help="stop when the loss exceeds this x its running median (default 1e3)",
    )
    g.add_argument(
        "--diverge-window",
        type=positive_int,
        default=20,
        help="iterations in the running median (20)",
    )
    g.add_argument(
        "--diverge-weights",
        type=_factor,
        default=1e4,
        help="stop when max |weight| exceeds this x max(1, its starting value) (default 1e4)",
    )
    g.add_argument(
        "--weight-check-every",
        type=positive_int,
        default=10,
        help="check the weights every N iterations (and at every snapshot; default 10)",
    )
    return p.parse_args(argv)


class StopRequest:
    """Signal handler state: the solver asks it after each iteration (Caffe's action hook)."""

    def __init__(self):
        self.signal = None

    @property
    def stop_pending(self):
        return self.signal is not None

    def handler(self, signum, frame):
        self.signal = signum
        # a second Ctrl-C interrupts at once
        signal.signal(signum, signal.SIG_DFL)

    def __call__(self):
        return "stop" if self.signal is not None else None


def _run_solver_file(folder, args, rank, world, recipe):
    """Write snapshot/solver[.rank<r>].prototxt: the solver with this run's overrides."""
    import caffeio

    from .run import with_python_params

    param = caffeio.read_solver(os.path.join(folder, "solver.prototxt"))
    os.makedirs(os.path.join(folder, "snapshot"), exist_ok=True)
    if args.lr is not None:
        param.base_lr = args.lr
    if args.snapshot_every is not None:
        param.snapshot = args.snapshot_every
    if args.display is not None:
        param.display = args.display
    if args.seed is not None:
        param.random_seed = args.seed
    if args.max_iter is not None:
        param.max_iter = args.max_iter
    if args.iters is not None:
        param.max_iter = max(param.max_iter, args.iters)
    param.snapshot_prefix = param.snapshot_prefix or "snapshot/train"
    # Scoring is driven from here, as in the release: tests never run inside the solver (Caffe
    # aborts on test_interval 0 when test nets exist, so "never" is a very large interval).
    param.test_interval = 999999999
    param.test_initialization = False
    if world > 1:
        train = param.train_net or param.net
        net = caffeio.read_net(train)
        net = with_python_params(net, seed=lambda s: (s or 0) + rank)
        ranked = os.path.join(
            "snapshot", f"{os.path.splitext(os.path.basename(train))[0]}.rank{rank}.prototxt"
        )
        caffeio.write_net(net, ranked)
        if param.train_net:
            param.train_net = ranked
        else:
            param.net, param.train_net = "", ranked
            param.test_net.append(train)
    path = os.path.join(
        "snapshot", "solver.prototxt" if world == 1 else f"solver.rank{rank}.prototxt"
    )
    caffeio.write_solver(param, path)
    return path, param


def _deconv_layers(solver, net):
    """Deconvolution layers whose weights do not learn (FCN's upsampling): interp targets."""
    out = []
    for layer in net.layer:
        if layer.type == "Deconvolution" and layer.name in solver.net.params:
            if len(layer.param) and all(p.lr_mult == 0 for p in layer.param):
                out.append(layer.name)
    return out


class LossCheck:
    """Per-pixel loss of the first iterations vs ln(C): the 'weights not initialised' hint."""

    def __init__(self, net_param, n_iters):
        self.n_iters = n_iters
        self.layers = [layer for layer in net_param.layer if layer.type == "SoftmaxWithLoss"]
        self.seen = []
        self.done = False

    def per_pixel(self, net):
        import numpy as np

        if not self.layers:
            return None, None
        layer = self.layers[0]
        score, label = net.blobs[layer.bottom[0]], net.blobs[layer.bottom[1]]
        loss = float(np.sum(net.blobs[layer.top[0]].data))
        lp = layer.loss_param
        lab = label.data
        valid = lab != lp.ignore_label if lp.HasField("ignore_label") else np.ones_like(lab, bool)
        n_valid = max(int(valid.sum()), 1)
        mode = lp.normalization if lp.HasField("normalization") else None
        if mode is None:
            mode = lp.VALID if (not lp.HasField("normalize") or lp.normalize) else lp.BATCH_SIZE
        shape = score.shape
        norm = {
            lp.VALID: n_valid,
            lp.BATCH_SIZE: shape[0],
            lp.FULL: int(np.prod(shape)) // shape[1],
            lp.NONE: 1,
        }[mode]
        return loss * max(norm, 1) / n_valid, shape[1]

    def __call__(self, net, iteration):
        """Record this iteration; -> hint text once when the loss sat at ln(C) throughout."""
        if self.done or not self.layers:
            return None
        value, classes = self.per_pixel(net)
        self.seen.append((value, classes))
        if len(self.seen) < self.n_iters:
            return None
        self.done = True
        ln_c = math.log(classes)
        if all(abs(v - ln_c) <= 0.01 * ln_c for v, _ in self.seen):
            return (
                f"the loss per pixel stayed at ln({classes}) = {ln_c:.4f} for the first "
                f"{self.n_iters} iterations: the weights were probably not initialised "
                "(all-zero trunk). Run surgery (python -m surgery fcnize / stage) or check "
                "--weights."
            )
        return None


def main(model, argv=None):
    """Train `model` (a zoo model name); argv: command-line flags (see --help)."""
    args = parse_args(model, argv)
    if engine.requested(args.engine) == "caffe":
        from engine.pycaffe_adapter import check_precision

        check_precision(args.precision)  # refused before pycaffe is even imported
    from caffeio.glog import SolverLog
    from zoo import record as model_record

    from . import runfolder
    from .run import base_weights, run_dir
    from .score import image_count, report, seg_tests
    from .snapshots import SnapshotBook
    from .streams import seek_data

    caffe = engine.use(args.engine)
    eng = engine.adapter()
    rank, world, local = eng.distributed(args.gpu)
    if rank == 0:
        engine.announce()
    device = eng.set_device(caffe, args.gpu, local)
    eng.check_precision(args.precision, device)
    recipe = model_record(model)  # the zoo record: heads scored, score interval
    user_weights = os.path.abspath(args.weights) if args.weights else None
    resume = os.path.abspath(args.resume) if args.resume else None
    runs_root = os.path.abspath(args.runs) if args.runs else None
    folder = run_dir(
        model, runs_root, args.width, args.data_root, args.normalize, args.recipe, args.batch,
        args.crop,
    )  # fmt: skip
    runs_root = os.path.dirname(folder)
    os.chdir(folder)
    jsonl = os.path.join("snapshot", TRAIN_LOG)
    prefix = _snapshot_prefix(folder)
    if not resume:  # never adopt an earlier run's snapshots (rank 0 moves them, if told to)
        note = runfolder.claim(folder, prefix, jsonl, args.overwrite, act=rank == 0)
        runfolder.say(note if rank == 0 else None)
    eng.barrier()
    if rank == 0:
        n = runfolder.remove_temps(folder, prefix)
        runfolder.say(f"removed {n} temporary file(s) of interrupted writes" if n else None)
    solver_path, param = _run_solver_file(folder, args, rank, world, recipe)

    weights = None
    if not resume:  # fail fast, before building nets, when the base weights are missing
        weights = user_weights or base_weights(model, folder, runs_root, args.width)
    log = SolverLog(os.path.join("snapshot", "train.log"), enabled=rank == 0)
    train_def = caffe_net_param(param)
    solver = eng.make_solver(caffe, solver_path, log, precision=args.precision)

    if resume:
        note = eng.restore(solver, resume)
        seek_data(solver.net, solver.iter * param.iter_size)
        if rank == 0:
            runlog.truncate_after(jsonl, solver.iter)
            print(f"resumed from {resume} at iteration {solver.iter}", file=sys.stderr)
            runfolder.say(note)
    else:
        eng.copy_weights(solver.net, weights, train_def)
        import surgery

        deconvs = _deconv_layers(solver, train_def)
        if deconvs:
            surgery.interp(solver.net, deconvs, verbose=False, definition=train_def)
        if rank == 0:
            print(
                f"{model}: weights {weights}; interp on {', '.join(deconvs) or 'none'}; "
                f"{device}; run folder {folder}",
                file=sys.stderr,
            )
    if rank == 0 and args.precision != "fp32":
        print(
            f"mixed precision {args.precision}: layers under autocast, fp32 weights and "
            f"snapshots; loss scale {getattr(solver, 'loss_scale', 1.0):g}, skipped steps so far "
            f"{getattr(solver, 'skipped_steps', 0)}",
            file=sys.stderr,
        )

    total = args.iters if args.iters is not None else param.max_iter - solver.iter
    stop_iter = solver.iter + total
    score_every = args.score_every or recipe.score_every
    book = SnapshotBook(param.snapshot_prefix, jsonl, param.snapshot, enabled=rank == 0)
    watch = DivergenceWatch(
        args.diverge_loss, args.diverge_window, args.diverge_weights, args.weight_check_every
    )
    watch.start(eng.max_abs_weight(solver))
    stopper = StopRequest()
    check = LossCheck(train_def, args.hint_iters)
    bar = _progress(total, rank, args.no_progress)
    if bar is not None:
        log.stream = _BarStream(bar)

    def on_iteration(s, loss, lr):
        skipped = getattr(s, "last_step_skipped", False)
        if rank == 0:
            row = {"iter": s.iter, "loss": loss, "lr": lr, "time": time.time()}
            if skipped:  # mixed precision: NaN/inf diffs, the update was not applied
                row.update(skipped=True, loss_scale=s.loss_scale)
            runlog.append_row(jsonl, row)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4g}")
        _watch(eng, s, loss, watch, book, skipped)
        hint = check(s.net, s.iter)
        if hint and rank == 0:
            print(f"WARNING: {hint}", file=sys.stderr)

    log("solving", f"Solving {getattr(solver.net, 'name', None) or train_def.name or model}")
    results = None
    loss_blob = recipe.heads[0].loss
    model_file = f"{book.stem(solver.iter)}.caffemodel"
    # installed right before the try whose finally restores them (an in-process caller keeps
    # its own handlers whatever happens in between)
    old = {s: signal.signal(s, stopper.handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while solver.iter < stop_iter and stopper.signal is None:
            chunk = min(score_every - solver.iter % score_every, stop_iter - solver.iter)
            eng.step(solver, chunk, on_iteration, stopper, log, param, loss_blob)
            if stopper.signal is None and solver.iter % score_every == 0 and rank == 0:
                results = _score(solver, recipe, args, param, seg_tests, image_count, report, jsonl)
        if bar is not None:
            bar.close()
        # snapshot what we have (unless this run just wrote this iteration) and publish it
        model_file = f"{book.stem(solver.iter)}.caffemodel"
        if not book.wrote(solver.iter):  # every rank: torchcaffe's ranks save their RNG state
            peak = _check_weights(eng, solver, watch)
            solver.snapshot()
            book.record(solver.iter, True, peak)
            log("snapshot", f"Snapshotting to binary proto file {model_file}")
    except Diverged as e:
        if bar is not None:
            bar.close()
        _stopped_diverged(e, book, jsonl)
    except OSError as e:  # a snapshot or log that cannot be written: full disk, read-only folder
        if bar is not None:
            bar.close()
        snap = book.latest_sane()
        where = getattr(e, "filename", None) or ""
        resume = snap[: -len(".caffemodel")] + ".solverstate" if snap else None
        raise SystemExit(
            f"error: cannot write {where or 'the run files'} in {folder} ({e.strerror or e}): "
            "free disk space or make the folder writable, then "
            + (f"resume with --resume {os.path.abspath(resume)}" if resume else "run again")
        ) from None
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if rank == 0 and stopper.signal is None:
        import caffeio

        final = os.path.join(folder, f"{model}.caffemodel")
        with open(model_file, "rb") as f:
            caffeio.atomic_write(final, f.read())
        print(f"{model}: trained weights {final}", file=sys.stderr)
    if stopper.signal is not None:
        name = signal.Signals(stopper.signal).name
        if rank == 0:
            print(
                f"{name}: stopped at iteration {solver.iter}; snapshot {model_file} "
                f"(resume with --resume {os.path.join(folder, book.stem(solver.iter))}"
                ".solverstate)",
                file=sys.stderr,
            )
        raise SystemExit(128 + stopper.signal)
    log("done", "Optimization Done.")
    return results


def _snapshot_prefix(folder):
    """The snapshot_prefix a run in `folder` uses (its solver's, else snapshot/train)."""
    import caffeio

    param = caffeio.read_solver(os.path.join(folder, "solver.prototxt"))
    return param.snapshot_prefix or "snapshot/train"


def _watch(eng, solver, loss, watch, book, skipped=False):
    """After each update: Diverged when the loss blew up or the weights exploded; a sanity row
    for the snapshot of this iteration (written by the solver just before or just after). A
    step skipped by mixed precision with a NaN/inf loss is not judged by its loss (the solver
    stops after too many such steps in a row)."""
    it = solver.iter
    snap = book.due(it)
    problem = None if skipped and not math.isfinite(loss) else watch.loss_problem(loss)
    peak = None
    if problem is None and watch.weights_due(it, snap):
        peak = eng.max_abs_weight(solver)
        problem = watch.weight_problem(peak)
    if snap:
        book.record(it, problem is None, peak)
    if problem is not None:
        raise Diverged(it, loss, weights_touched=True, reason=problem)


def _check_weights(eng, solver, watch):
    """The largest |weight| before a final snapshot; Diverged when it shows divergence."""
    peak = eng.max_abs_weight(solver)
    problem = watch.weight_problem(peak)
    if problem is not None:
        raise Diverged(solver.iter, float("nan"), weights_touched=True, reason=problem)
    return peak


def _stopped_diverged(e, book, jsonl):
    """Report a divergence stop (naming the latest sane snapshot) and exit with status 1."""
    snap = book.latest_sane()
    touched = " (this engine had already applied the update: nothing is saved)"
    named = "none written yet"
    if snap:
        state = snap[: -len(".caffemodel")] + ".solverstate"
        named = f"{snap} (finite weights, sane loss)\nto continue from it: --resume {state} "
        named += "with a lower --lr"
    print(
        f"error: {e}{touched if e.weights_touched and e.nan else ''}\nlast good snapshot: {named}",
        file=sys.stderr,
    )
    runlog.append_row(jsonl, {"iter": e.iteration, "error": e.reason, "loss": str(e.loss)})
    raise SystemExit(1) from None


def caffe_net_param(param):
    """The train NetParameter named by a SolverParameter (paths relative to the cwd)."""
    import caffeio

    return caffeio.read_net(param.train_net or param.net)


def _score(solver, recipe, args, param, seg_tests, image_count, report, jsonl):
    net = solver.test_nets[0] if len(solver.test_nets) else None
    if net is None:
        return None
    if hasattr(net, "share_with"):
        net.share_with(solver.net)
    n = image_count(net, param.test_iter[0] if len(param.test_iter) else None)
    if args.score_images:
        n = min(n, args.score_images)
    results = seg_tests(net, n, recipe.heads)
    print(f">>> iteration {solver.iter}", file=sys.stderr)
    report(results, file=sys.stderr, per_class=False)
    runlog.append_row(jsonl, {"iter": solver.iter, "scores": results})
    return results


def _progress(total, rank, disabled):
    if disabled or rank != 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="it", dynamic_ncols=True, file=sys.stderr)


class _BarStream:
    """A file-like object writing log lines above the progress bar."""

    def __init__(self, bar):
        self.bar = bar

    def write(self, text):
        text = text.rstrip("\n")
        if text:
            self.bar.write(text, file=sys.stderr)

    def flush(self):
        pass
