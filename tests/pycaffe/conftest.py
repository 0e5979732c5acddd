"""The real-pycaffe tier (make test-pycaffe): every workflow on BVLC pycaffe, and the two engines
compared on the same files. Runs in its own pytest process, which chooses the caffe engine (the
commands it starts get FCN_ENGINE=caffe); every test skips, with the reason, when pycaffe cannot
be imported (build it with `make pycaffe`)."""

import os
import subprocess
import sys

import pytest

os.environ["FCN_ENGINE"] = "caffe"
os.environ.setdefault("GLOG_minloglevel", "2")  # Caffe's INFO lines: only in failures' logs

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NOTORCH = os.path.join(HERE, "notorch")
sys.path.insert(0, os.path.dirname(HERE))  # the main suite's helpers (train_files, ...)
WIDTH = "0.0625"

try:
    import caffe  # noqa: F401

    REASON = None if hasattr(caffe, "Net") and hasattr(caffe, "Layer") else "not pycaffe"
except Exception as e:  # any import failure: ImportError, numpy ABI SystemError, ...
    REASON = f"real pycaffe not importable ({type(e).__name__}: {e}); build it: make pycaffe"
if REASON is None:
    import engine

    engine.use("caffe")


def pytest_collection_modifyitems(config, items):
    if REASON:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=REASON))


def run(args, engine="caffe", notorch=None, cwd=None, check=True, timeout=600, env=None):
    """Run `python args...` with FCN_ENGINE=engine; the Caffe engine runs with torch blocked."""
    notorch = engine == "caffe" if notorch is None else notorch
    e = dict(os.environ, FCN_ENGINE=engine, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    if notorch:
        e["PYTHONPATH"] = NOTORCH + os.pathsep + ROOT
    e.update(env or {})
    p = subprocess.run(
        [sys.executable, *args], env=e, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} -> {p.returncode}:\n{p.stderr[-4000:]}")
    return p


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """Synthetic VOC/SBD + a random width-1/16 VGG-16 fcnized under <runs>/ilsvrc-nets/."""
    if REASON:
        pytest.skip(REASON)
    from test_solvers_e2e import make_easy_voc

    from surgery.fcnize import fcnize
    from zoo.classifiers import write_classifier

    base = tmp_path_factory.mktemp("pycaffe")
    make_easy_voc(str(base / "data"))
    proto, weights = write_classifier(str(base / "cls"), "vgg16", width=float(WIDTH))
    fcnize(
        proto, weights, str(base / "runs" / "ilsvrc-nets" / "vgg16-fcn.caffemodel"), verbose=False
    )
    return base


def share_base(world, runs):
    """<world>/<runs>/ilsvrc-nets -> the world's fcnized base net (a symlink)."""
    base = world / runs / "ilsvrc-nets"
    if not base.exists():
        base.parent.mkdir(parents=True, exist_ok=True)
        base.symlink_to(world / "runs" / "ilsvrc-nets")


def solve(world, model, *flags, engine="caffe", runs="runs", check=True, **kw):
    """models/<model>/solve.py at width 1/16 on the synthetic world; `runs` folders share the
    fcnized base net."""
    share_base(world, runs)
    args = [os.path.join(ROOT, "models", model, "solve.py"), "--width", WIDTH]
    args += ["--data-root", str(world / "data"), "--runs", str(world / runs)]
    args += ["--no-progress", "--normalize", "--seed", "0", "--lr", "1e-4", *flags]
    return run(args, engine=engine, check=check, **kw)
