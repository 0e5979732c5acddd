"""The packages as floors (docs/architecture.md): every import arrow points down, no two packages
or modules of one package import each other round a circle, and the page shows the graph
scripts/import_graph.py derives from the source today."""

import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "import_graph.py")


@pytest.fixture(scope="module")
def ig():
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_arrows_point_down_and_no_circles():
    p = subprocess.run(
        [sys.executable, SCRIPT, "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_graph_is_read_from_the_source(ig):
    graph = ig.module_graph()
    # a few arrows known from the code, lazy imports inside functions included
    assert "engine.choice" in graph["engine.nets"]
    assert "torchcaffe.solver" in graph["engine.torchcaffe_adapter"]  # inside a function
    assert "solvers.runs.paths" in graph["solvers.training.solverfile"]  # an absolute import
    assert "solvers.training.session" in graph["solvers.training.driver"]  # a relative one
    assert not any(t.startswith(("numpy", "torch.")) for ts in graph.values() for t in ts)
    packages = ig.package_graph(graph)
    assert packages["caffeio"] == set()  # the bottom floor imports no package
    assert "caffeio" in packages["solvers"] and "solvers" not in packages["layers"]


def test_the_check_finds_upward_arrows_and_circles(ig):
    """The checker itself can fail: an upward arrow, a circle between packages, one inside a
    package, a solvers subpackage importing one above it, and a package importing tests/."""
    graph = {
        "caffeio.x": {"solvers.y"},  # up, and a circle caffeio <-> solvers
        "solvers.y": {"caffeio.x"},
        "zoo.a": {"zoo.b"},
        "zoo.b": {"zoo.a"},
        "solvers.pictures.p": {"solvers.training.t"},
        "solvers.training.t": set(),
        "layers.l": {"tests.helper"},
        "tests.helper": set(),
        "torchcaffe": {"torchcaffe.solver"},  # allowed below as a known circle
        "torchcaffe.solver": {"torchcaffe"},
    }
    monkey = {("torchcaffe", "torchcaffe.solver"): "a test's allowance"}
    ig.KNOWN_CIRCLES.update(monkey)
    found = "\n".join(ig.problems(graph))
    assert "caffeio.x imports solvers.y: solvers is above caffeio" in found
    assert "import circle between packages: caffeio <-> solvers" in found
    assert "import circle in zoo/: zoo.a <-> zoo.b" in found
    assert "solvers.training is above solvers.pictures" in found
    assert "layers.l imports tests.helper" in found
    assert "torchcaffe" not in found
    del graph["torchcaffe.solver"]
    assert "known circle torchcaffe <-> torchcaffe.solver is gone" in "\n".join(ig.problems(graph))
    for key in monkey:
        del ig.KNOWN_CIRCLES[key]
    graph["torchcaffe.solver"] = {"torchcaffe"}
    assert "import circle in torchcaffe/: torchcaffe <-> torchcaffe.solver" in "\n".join(
        ig.problems(graph)
    )


def test_the_page_shows_todays_graph(ig):
    page = open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8").read()
    start = page.index("<!-- import_graph")
    body = page[page.index("\n", start) + 1 : page.index("<!-- /import_graph -->")]
    assert body.strip() == ig.mermaid(ig.module_graph()).strip(), (
        "docs/architecture.md: paste the output of `python scripts/import_graph.py` between "
        "the import_graph markers"
    )
    for pkg in ig.FLOORS:
        assert f"`{pkg}/`" in page
    index = open(os.path.join(ROOT, "docs", "README.md"), encoding="utf-8").read()
    assert "(architecture.md)" in index


def test_both_engine_adapters_offer_the_same_functions():
    """solvers.training's loop is engine-free: it calls the same functions on either adapter."""
    import inspect

    from engine import pycaffe_adapter, torchcaffe_adapter

    def public(mod):
        return {
            name: list(inspect.signature(f).parameters)[:3]
            for name, f in vars(mod).items()
            if inspect.isfunction(f) and f.__module__ == mod.__name__ and not name.startswith("_")
        }

    ours, theirs = public(pycaffe_adapter), public(torchcaffe_adapter)
    used = {"distributed", "set_device", "check_precision", "make_solver", "open_net",
            "copy_weights", "restore", "snapshot", "barrier", "broadcast", "max_abs_weight",
            "step"}  # fmt: skip
    assert used <= set(ours) & set(theirs)
    assert {n: ours[n] for n in used} == {n: theirs[n] for n in used}
