"""Bad nets and solverstates through the pycaffe path end in a clean error, never an abort.

Real Caffe stops the process (SIGABRT) on most of the 83 known-bad prototxts of
tests/audit_corpus.py and runs a few silently (dropout_ratio 1, a duplicated layer name, ...);
its solverstate restore takes a negative current_step, transposed history or iteration
2^31 - 1. Through engine.open_net / the adapter's restore with the caffe engine (torch
blocked), each must end in a project error naming the file and the layer (or blob). Each case
runs in a child forked from one process that imported pycaffe (scripts/reliability_audit.py's
machinery), under an address-space limit, so an abort costs the child only.
"""

import importlib.util
import os

import pytest
from conftest import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "reliability_audit.py")


def _audit():
    spec = importlib.util.spec_from_file_location("reliability_audit", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    audit = _audit()
    work = str(tmp_path_factory.mktemp("audit"))
    opts = {"timeout": 120.0, "mem_gib": 2.0, "work": work, "scratch": work}
    cases = audit.build_corpus(work, ["caffe"], 2, 0, ("nets", "memory", "solverstates"))
    cases = [
        c for c in cases if c["engine"] in ("caffe", "caffe-raw") and c["target"] != "infer-cli"
    ]
    results = {}
    for engine in ("caffe", "caffe-raw"):
        got, why = audit.run_engine(engine, [c for c in cases if c["engine"] == engine], opts,
                                    lambda *a: None)  # fmt: skip
        assert why is None, why
        results.update(got)
    audit.judge(cases, results)
    return [(c, results[c["id"]]) for c in cases]


def test_bad_nets_and_states_end_in_clean_errors_on_the_caffe_engine(runs):
    ours = [(c, r) for c, r in runs if c["engine"] == "caffe"]
    assert len([c for c, _ in ours if c["family"] == "nets"]) >= 80
    bad = []
    for c, r in ours:
        want = "refused" if c["expect"] == "refuse" else "accepted"
        if r["outcome"] != want:
            bad.append(
                f"{c['subject']}: {r['outcome']} {r.get('error', '')} {r.get('message', '')}"
            )
    assert not bad, "\n".join(bad)
    assert not any(r["torch_loaded"] for _, r in ours)  # the pycaffe path never imports torch
    for c, r in ours:
        if r["outcome"] == "refused" and c["family"] == "solverstates":
            assert os.path.basename(c["state"]) in r["message"], r["message"]


def test_real_caffe_without_the_checks_aborts_on_most_of_them(runs):
    """The reason for the checks: the same files handed to Caffe directly."""
    raw = [r["outcome"] for c, r in runs if c["engine"] == "caffe-raw" and c["expect"] == "refuse"]
    assert raw.count("signal") >= 50, raw
