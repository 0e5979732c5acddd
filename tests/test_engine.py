"""Engine choice: FCN_ENGINE=auto|caffe|torch, real pycaffe when importable."""

import importlib.util
import sys
import types

import pytest

from solvers import engine

HAVE_PYCAFFE = importlib.util.find_spec("caffe") is not None


def test_torch_engine_and_description(monkeypatch):
    mod, name = engine.choose("torch")
    assert name == "torch" and mod.__name__ == "torchcaffe"
    assert hasattr(mod, "Net") and hasattr(mod, "Layer") and mod.TEST == 1


def test_bad_choice_names_the_options():
    with pytest.raises(ValueError, match="auto, caffe, torch"):
        engine.choose("tensorflow")


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


def test_announce_prints_engine_line(capsys):
    engine.announce()
    assert capsys.readouterr().err.startswith("engine: ")


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
