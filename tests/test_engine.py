"""The engine package: the program's choice (engine.use; FCN_ENGINE only as the default), real
pycaffe when importable, nothing chosen by importing, and Python layers for either engine."""

import importlib.util
import os
import subprocess
import sys
import types

import pytest

import engine
from engine import choice

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_PYCAFFE = importlib.util.find_spec("caffe") is not None


@pytest.fixture
def fresh(monkeypatch):
    """No engine chosen yet (the suite's conftest chose torch): restored after the test."""
    monkeypatch.setattr(choice, "_state", {"asked": None, "module": None, "name": None})
    monkeypatch.delenv("FCN_ENGINE", raising=False)
    return monkeypatch


def test_torch_engine_and_description():
    mod, name = engine.choose("torch")
    assert name == "torch" and mod.__name__ == "torchcaffe"
    assert hasattr(mod, "Net") and hasattr(mod, "Layer") and mod.TEST == 1


def test_use_remembers_the_programs_choice(fresh):
    assert engine.chosen() is None
    mod = engine.use("torch")
    assert mod.__name__ == "torchcaffe" and engine.current() is mod
    assert engine.chosen() == engine.current_name() == "torch"
    assert engine.adapter().__name__ == "engine.torchcaffe_adapter"
    # the program chose: FCN_ENGINE no longer counts, and use(None) keeps the choice
    fresh.setenv("FCN_ENGINE", "caffe")
    assert engine.requested() == "torch" and engine.use(None) is mod and engine.use() is mod


def test_fcn_engine_is_the_default_when_the_program_did_not_choose(fresh):
    fresh.setenv("FCN_ENGINE", " Torch ")
    assert engine.requested() == "torch" and engine.chosen() is None  # asking chooses nothing
    assert engine.current().__name__ == "torchcaffe" and engine.chosen() == "torch"
    fresh.setattr(choice, "_state", {"asked": None, "module": None, "name": None})
    fresh.delenv("FCN_ENGINE")
    assert engine.requested() == "auto"
    assert engine.requested("caffe") == "caffe"  # a --engine value beats the environment


def test_bad_choice_names_the_options(fresh):
    with pytest.raises(ValueError, match="--engine='tensorflow': use one of auto, caffe, torch"):
        engine.use("tensorflow")
    fresh.setenv("FCN_ENGINE", "tf")
    with pytest.raises(ValueError, match="FCN_ENGINE='tf': use one of auto, caffe, torch"):
        engine.current()
    assert engine.chosen() is None


@pytest.mark.skipif(HAVE_PYCAFFE, reason="checks the message when pycaffe is absent")
def test_caffe_forced_without_pycaffe_says_what_to_do():
    with pytest.raises(ImportError, match="FCN_ENGINE=torch"):
        engine.choose("caffe")
    mod, name = engine.choose("auto")
    assert name == "torch"


def test_auto_prefers_pycaffe_when_importable(monkeypatch):
    fake = types.ModuleType("caffe")
    fake.Net, fake.Layer = object, object
    monkeypatch.setitem(sys.modules, "caffe", fake)
    assert engine.choose("auto") == (fake, "caffe")
    # a module called caffe that is not pycaffe is refused when forced, skipped by auto
    other = types.ModuleType("caffe")
    monkeypatch.setitem(sys.modules, "caffe", other)
    assert engine.choose("auto")[1] == "torch"
    with pytest.raises(ImportError, match="not pycaffe"):
        engine.choose("caffe")


def test_switching_engines(fresh):
    fake = types.ModuleType("caffe")
    fake.Net, fake.Layer, fake.__file__ = object, object, "/x/caffe/__init__.py"
    fresh.setitem(sys.modules, "caffe", fake)
    assert engine.use("caffe") is fake and engine.current_name() == "caffe"
    assert engine.describe() == "engine: BVLC pycaffe (/x/caffe/__init__.py)"
    assert engine.adapter().__name__ == "engine.pycaffe_adapter"
    assert engine.use("torch").__name__ == "torchcaffe" and engine.current_name() == "torch"


def test_announce_prints_engine_line(capsys):
    engine.announce()
    assert capsys.readouterr().err.startswith("engine: torchcaffe (")


@pytest.mark.parametrize("exc", ["SystemError('numpy ABI')", "TypeError('duplicate symbol')"])
def test_auto_falls_back_on_any_import_failure(tmp_path, monkeypatch, capsys, exc):
    """A pycaffe that raises something other than ImportError (numpy ABI mismatch, descriptor
    clash) must not crash auto: torchcaffe is used and the reason printed."""
    pkg = tmp_path / "caffe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(f"raise {exc}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "caffe", raising=False)
    mod, name = engine.choose("auto")
    assert name == "torch" and mod.__name__ == "torchcaffe"
    err = capsys.readouterr().err
    assert "pycaffe found but not usable" in err and exc.split("(")[0] in err
    monkeypatch.delitem(sys.modules, "caffe", raising=False)
    with pytest.raises(ImportError, match="make pycaffe"):
        engine.choose("caffe")


def test_importing_chooses_no_engine():
    """Importing engine, every data layer and every solvers module chooses nothing, reads no
    FCN_ENGINE (a bad value would raise) and imports no engine: layers/ and engine/ import
    neither pycaffe, torchcaffe nor torch."""
    code = """
import importlib, pkgutil, sys
import engine, layers, layers.synth
for pkg in (engine, layers, layers.synth):
    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name != "__main__":
            importlib.import_module(f"{pkg.__name__}.{m.name}")
loaded = sorted(m for m in ("caffe", "torchcaffe", "torch") if m in sys.modules)
assert not loaded, loaded
import solvers
for m in pkgutil.walk_packages(solvers.__path__, "solvers."):
    if not m.name.endswith("__main__"):
        importlib.import_module(m.name)
from layers.voc import VOCSegDataLayer
layer = VOCSegDataLayer()  # the engine-free class
assert engine.chosen() is None, engine.chosen()
assert "caffe" not in sys.modules
print("ok", type(layer).__mro__[-2].__name__)
"""
    env = dict(os.environ, FCN_ENGINE="no-such-engine", PYTHONPATH=ROOT)
    p = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == ["ok", "PortableLayer"]


# ---- Python layers for whichever engine builds the net -------------------------------------


def _fake_pycaffe(monkeypatch):
    """A stand-in for pycaffe's Boost module caffe._caffe: LayerParameter and Layer side by side
    (Layer's __init__ takes the parameter, as Boost's does)."""
    mod = types.ModuleType("fakecaffe._caffe")

    class LayerParameter:
        pass

    class Layer:
        def __init__(self, param):
            self.made_with = param

    for cls in (LayerParameter, Layer):
        cls.__module__ = mod.__name__
        setattr(mod, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    return mod


def test_portable_layer_takes_the_class_of_the_engine_that_builds_it(monkeypatch):
    from layers.base import SegDataLayer
    from layers.voc import VOCSegDataLayer

    fake = _fake_pycaffe(monkeypatch)
    param = fake.LayerParameter()
    made = VOCSegDataLayer(param)  # as Caffe's layer factory calls it
    assert isinstance(made, fake.Layer) and isinstance(made, VOCSegDataLayer)
    assert made.made_with is param and type(made).__name__ == "VOCSegDataLayer"
    assert type(made).__qualname__ == "VOCSegDataLayer[fakecaffe]"
    assert type(VOCSegDataLayer(fake.LayerParameter())) is type(made)  # made once
    # no engine parameter: the plain engine-free object
    plain = VOCSegDataLayer()
    assert type(plain) is VOCSegDataLayer and not isinstance(plain, fake.Layer)
    assert isinstance(plain, SegDataLayer) and plain.param_str == "" and plain.phase == 0
    # torchcaffe's flavour, asked by its Python op
    import torchcaffe
    from torchcaffe.ops.python import own_class

    ours = own_class(VOCSegDataLayer)
    assert issubclass(ours, torchcaffe.Layer) and issubclass(ours, VOCSegDataLayer)
    assert own_class(ours) is ours and ours.for_engine(fake.Layer) is type(made)
    layer = ours("lp")
    assert layer.layer_param == "lp" and layer.blobs == []
    # a class written for torchcaffe only is used as it is
    assert own_class(torchcaffe.Layer) is torchcaffe.Layer and own_class(dict) is dict
