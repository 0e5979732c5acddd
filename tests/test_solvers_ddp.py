"""Two gloo ranks (batch 1 stream each) == one process with iter_size 2 over the same examples:
gradients are averaged across ranks before the update, like Caffe's multi-GPU all-reduce.

Every wait is bounded: the ranks meet through a file (no port to race for), talk over the
loopback interface, give up on a collective after TIMEOUT s, and the parent terminates them
after SPAWN_DEADLINE s, so a stuck rank fails this test instead of hanging the suite."""

import datetime
import json
import os
import sys
import time

import numpy as np
import torch
import torch.multiprocessing as mp

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = (
    'type: "{kind}" base_lr: 0.1 lr_policy: "step" gamma: 0.5 stepsize: 2 momentum: 0.9 '
    "weight_decay: 0.01 iter_size: {iter_size} max_iter: 10 display: 0 "
    'snapshot_prefix: "{prefix}"'
)


TIMEOUT = 120  # s, one rendezvous or collective
SPAWN_DEADLINE = 300  # s, both ranks from start to exit


def _train(folder, kind, iter_size, iters):
    from test_solvers_toynet import real_net, write_toy

    from torchcaffe.solver import get_solver

    path = write_toy(
        folder,
        FIELDS.format(kind=kind, iter_size=iter_size, prefix=os.path.join(folder, "snap")),
        python_data=True,
    )
    solver = get_solver(path, net_factory=real_net)
    solver.step(iters)
    return solver


def _rank(rank, world, folder, kind):
    sys.path.insert(0, HERE)
    torch.set_num_threads(1)
    if os.path.exists("/sys/class/net/lo"):
        os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # not the hostname's address: sandboxes differ
    torch.distributed.init_process_group(
        "gloo",
        init_method="file://" + os.path.join(folder, "rendezvous"),
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=TIMEOUT),
    )
    try:
        solver = _train(os.path.join(folder, f"rank{rank}"), kind, 1, 4)
        assert solver.world == world and solver.rank == rank
        weights = [b.data.copy() for bs in solver.net.params.values() for b in bs]
        np.savez(os.path.join(folder, f"weights{rank}.npz"), *weights)
        if rank == 0:
            solver.snapshot()
        torch.distributed.barrier()  # both ranks done before either tears the group down
    finally:
        torch.distributed.destroy_process_group()


def _ddp_vs_single(tmp_path, kind):
    folder = str(tmp_path)
    for r in range(2):
        os.makedirs(os.path.join(folder, f"rank{r}"))
    ranks = mp.spawn(_rank, args=(2, folder, kind), nprocs=2, join=False)
    deadline = time.monotonic() + SPAWN_DEADLINE
    while not ranks.join(timeout=1):  # raises when a rank failed (and stops the other)
        if time.monotonic() > deadline:
            for p in ranks.processes:
                p.kill()
            raise AssertionError(f"the two gloo ranks did not finish in {SPAWN_DEADLINE} s")
    os.makedirs(os.path.join(folder, "single"))
    single = _train(os.path.join(folder, "single"), kind, 2, 4)
    ref = [b.data.copy() for bs in single.net.params.values() for b in bs]
    for r in range(2):
        got = np.load(os.path.join(folder, f"weights{r}.npz"))
        for i, a in enumerate(ref):
            np.testing.assert_allclose(got[f"arr_{i}"], a, rtol=1e-5, atol=1e-6)
    # only rank 0 snapshots
    assert os.listdir(os.path.join(folder, "rank0")).count("snap_iter_4.caffemodel") == 1
    assert "snap_iter_4.caffemodel" not in os.listdir(os.path.join(folder, "rank1"))


def test_ddp_gloo_equals_iter_size(tmp_path):
    _ddp_vs_single(tmp_path, "SGD")


def test_torchrun_solve_gives_each_rank_its_train_net(tmp_path):
    """`torchrun --nproc_per_node 2 models/voc-fcn32s/solve.py`: each rank trains from its own
    copy of the train net in the run's snapshot/ (data layers seeded seed + rank, every path
    absolute), rank 0 scores, snapshots and publishes, rank 1 saves its random state."""
    import ast
    import subprocess

    import tiny_training as tt

    import caffeio
    from solvers.runs import lock

    world = tt.make_world(str(tmp_path / "world"))
    runs = tt.runs_folder(world, "ddp")
    solve = tt.command(world, runs, "--iters", "4", "--score-every", "2")[1:]  # after python
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = (
        dict(tt.env(), GLOO_SOCKET_IFNAME="lo") if os.path.exists("/sys/class/net/lo") else tt.env()
    )
    # a run (this process) holds the folder: every rank refuses, naming it; none hangs
    held = lock.acquire(tt.run_dir(runs))
    try:
        p = subprocess.run(cmd + solve, env=env, cwd=str(tmp_path), capture_output=True,
                           text=True, timeout=SPAWN_DEADLINE)  # fmt: skip
    finally:
        held.release()
    assert p.returncode != 0 and p.stderr.count(f"in use by another run (pid {os.getpid()} ") == 2
    assert not os.path.exists(tt.snap_dir(runs)), p.stderr[-3000:]
    p = subprocess.run(cmd + solve, env=env, cwd=str(tmp_path), capture_output=True, text=True,
                       timeout=SPAWN_DEADLINE)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    snap = tt.snap_dir(runs)
    seeds = []
    for rank in range(2):
        solver = caffeio.read_solver(os.path.join(snap, f"solver.rank{rank}.prototxt"))
        assert solver.train_net == os.path.join(snap, f"train.rank{rank}.prototxt")
        data = caffeio.read_net(solver.train_net).layer[0]
        seeds.append(ast.literal_eval(data.python_param.param_str)["seed"])
    assert seeds[1] == seeds[0] + 1
    files = os.listdir(snap)
    assert {"train_iter_4.caffemodel", "train_iter_4.solverstate"} <= set(files)
    assert "train_iter_4.rank1.rngstate" in files
    assert p.stderr.count("trained weights") == 1 and p.stderr.count(">>> iteration") == 2
    with open(os.path.join(snap, "train.jsonl")) as f:  # rank 0's rows, of one run
        logged = [json.loads(x) for x in f]
    assert len({r["run"] for r in logged}) == 1
    assert [r["iter"] for r in logged if "loss" in r] == [1, 2, 3, 4]
