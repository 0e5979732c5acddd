"""bench/report.py: the per-round statistics the speed targets are judged on."""

from bench import report


def _res():
    env = dict(date="2026-11-26T01:00:00", machine="vm", cpu_model="x", cores=2, torch="t")
    env.update(threads=2, size=500, width=1.0, reps=3, rounds=2, loadavg_start=[0, 0, 0])
    spec = {"loadavg_before": [None, None]}
    train = {
        "torchcaffe": {"times": [4.4, 4.0, 4.1, 5.2, 4.2, 4.3], "peak_rss_mb": 3000, "spec": spec},
        "caffe": {"times": [8.0, 8.2, 8.1, 8.4, 8.8, 8.6], "peak_rss_mb": 6000, "spec": spec},
    }
    return {"env": env, "train": train}


def test_round_bests_split_the_times_by_round():
    r = _res()["train"]["torchcaffe"]
    assert report.round_bests(r, 3) == [4.0, 4.2]
    assert report.round_bests(None, 3) == [] and report.round_bests(r, 0) == []


def test_training_table_gives_spread_over_steps_and_over_rounds():
    text = report.table(_res())
    # over single steps 5.2 / 4.0 = 1.30; over the round bests 4.2 / 4.0 = 1.05
    assert "| torchcaffe | 4.00 / 4.30 / 5.20 | 1.30 |" in text
    assert "| torchcaffe | 4.00, 4.20 | 1.05 | 0.50, 0.50 |" in text
    assert "| caffe | 8.00, 8.40 | 1.05 | 1.00, 1.00 |" in text
