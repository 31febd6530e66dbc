"""The claim checks' verdicts on small synthetic score and accuracy tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from paperlib import claims

SCORE_COLS = ["arch", "family", "hierarchy", "seed", "loss", "layer", "depth", "rel_depth", "factor", "ami", "purity"]
ACC_COLS = ["arch", "family", "hierarchy", "seed", "loss", "accuracy", "epochs", "n_superclasses"]
ARCHS = {"vgg16": "vgg", "resnet50": "resnet"}


def make_scores(gain, *, base=0.1, seeds=(0,), noise=None, archs=ARCHS, factors=(1, 3)):
    """A scores table shaped like experiment.run's: standard AMI ``base`` at every layer, shuffled
    AMI ``base + gain[d]``; ``noise[seed]`` is added to both hierarchies' AMI of that seed."""
    gain = np.asarray(gain, dtype=float)
    n = len(gain)
    rows = []
    for arch, fam in archs.items():
        for hier in ("standard", "shuffled"):
            for seed in seeds:
                shift = 0.0 if noise is None else noise[hier][seed]
                for d in range(n):
                    for f in factors:
                        ami = base + (gain[d] if hier == "shuffled" else 0.0) + shift
                        rows.append(
                            {
                                "arch": arch,
                                "family": fam,
                                "hierarchy": hier,
                                "seed": seed,
                                "loss": "softmax",
                                "layer": f"{arch}_l{d}",
                                "depth": d,
                                "rel_depth": d / max(1, n - 1),
                                "factor": f,
                                "ami": ami,
                                "purity": 0.5,
                            }
                        )
    return pd.DataFrame(rows, columns=SCORE_COLS)


def make_accuracy(acc=0.9, *, seeds=(0,), archs=ARCHS, n_superclasses=4, override=None):
    """An accuracy table shaped like experiment.run's; ``override[(arch, hierarchy)]`` sets one."""
    rows = []
    for arch, fam in archs.items():
        for hier in ("standard", "shuffled"):
            for seed in seeds:
                a = (override or {}).get((arch, hier), acc)
                rows.append(
                    {
                        "arch": arch,
                        "family": fam,
                        "hierarchy": hier,
                        "seed": seed,
                        "loss": "softmax",
                        "accuracy": a,
                        "epochs": 2,
                        "n_superclasses": n_superclasses,
                    }
                )
    return pd.DataFrame(rows, columns=ACC_COLS)


LATE_RISING = [0.03, 0.05, 0.08, 0.12, 0.2, 0.3]


def test_late_rising_gain_is_reproduced():
    check = claims.shuffling(make_scores(LATE_RISING), make_accuracy())
    assert check.verdict == "reproduced"
    assert check.seeds == (0,)
    assert "6 of 6 layers" in check.measured
    assert "vgg16, factor 1" in check.measured and "resnet50, factor 3" in check.measured
    assert "Seeds: 0 (1 seed: no spread estimate)" in check.measured
    assert "no spread estimate" in check.explanation


def test_tiny_gain_everywhere_is_not_reproduced():
    check = claims.shuffling(make_scores([0.001] * 6), make_accuracy())
    assert check.verdict == "not reproduced"
    assert "only 0 of 6 layers" in check.explanation


def test_four_of_six_layers_losing_ami_is_not_reproduced():
    # a positive mean gain and a late rise, but four layers lose AMI
    check = claims.shuffling(make_scores([-0.01, -0.02, -0.01, -0.01, 0.3, 0.4]), make_accuracy())
    assert check.verdict == "not reproduced"
    assert "only 2 of 6 layers" in check.explanation


def test_gain_concentrated_early_is_not_reproduced():
    check = claims.shuffling(make_scores([0.3, 0.3, 0.25, 0.2, 0.05, 0.03]), make_accuracy())
    assert check.verdict == "not reproduced"
    assert "last-third mean gain (+0.040) does not exceed the first-third one (+0.300)" in check.explanation


def test_old_argmax_miss_is_reproduced():
    """The old check failed VGG on a 0.002 argmax margin (conv2_2 +0.169 vs fc6 +0.167)."""
    check = claims.shuffling(make_scores([0.1, 0.169, 0.12, 0.14, 0.167, 0.16]), make_accuracy())
    assert check.verdict == "reproduced"


def test_model_under_the_gate_is_inconclusive_and_named():
    acc = make_accuracy(override={("resnet50", "shuffled"): 0.41})
    check = claims.shuffling(make_scores(LATE_RISING), acc)
    assert check.verdict == "inconclusive"
    assert "resnet50 (shuffled, seed 0) at 0.410" in check.explanation
    assert "resnet50 (shuffled, seed 0) 0.410 (under the gate)" in check.measured
    # the gate outranks a failing profile
    assert claims.shuffling(make_scores([0.001] * 6), acc).verdict == "inconclusive"


def test_seed_spread_swamping_the_gain_is_inconclusive():
    gain = [0.03, 0.04, 0.05, 0.06, 0.07, 0.08]
    noise = {"standard": {0: 0.0, 1: 0.2}, "shuffled": {0: 0.2, 1: 0.0}}
    scores = make_scores(gain, seeds=(0, 1), noise=noise)
    check = claims.shuffling(scores, make_accuracy(seeds=(0, 1)))
    assert check.verdict == "inconclusive"
    assert check.seeds == (0, 1)
    assert "within the seed spread" in check.explanation
    assert "2 per hierarchy" in check.measured and "seed spread 0.283" in check.measured
    # the same gain with two agreeing seeds is reproduced
    quiet = make_scores(gain, seeds=(0, 1))
    assert claims.shuffling(quiet, make_accuracy(seeds=(0, 1))).verdict == "reproduced"


def test_failing_cell_outranks_a_noisy_one():
    noise = {"standard": {0: 0.0, 1: 0.3}, "shuffled": {0: 0.3, 1: 0.0}}
    scores = make_scores([0.001] * 6, seeds=(0, 1), noise=noise)
    assert claims.shuffling(scores, make_accuracy(seeds=(0, 1))).verdict == "not reproduced"


def test_markdown_is_prose_with_verdict_and_every_accuracy():
    acc = make_accuracy(
        override={
            ("vgg16", "standard"): 0.812,
            ("vgg16", "shuffled"): 0.733,
            ("resnet50", "standard"): 0.905,
            ("resnet50", "shuffled"): 0.644,
        }
    )
    check = claims.shuffling(make_scores(LATE_RISING), acc)
    md = check.markdown()
    assert "`" not in md
    assert check.verdict in md and check.explanation in md and check.paper in md
    for a in ("0.812", "0.733", "0.905", "0.644"):
        assert a in md
    assert "Fig. 2" in md and "entity-13" in md


def test_accuracy_gate_rule_and_listing():
    acc = make_accuracy(override={("vgg16", "shuffled"): 0.62})
    g = claims.accuracy_gate(acc)
    assert not g.passed
    assert g.failing == ("vgg16 (shuffled, seed 0) at 0.620",)
    assert "chance-corrected accuracy >= 0.50, i.e. >= 0.625 with 4 superclasses" in g.text
    assert g.text.count("0.900") == 3
    assert g.table["corrected"].iloc[0] == pytest.approx((0.9 - 0.25) / 0.75)
    # exactly at the threshold passes
    assert claims.accuracy_gate(make_accuracy(0.625)).passed
    assert claims.accuracy_gate(make_accuracy(0.3), gate=0.0).passed


def test_accuracy_gate_needs_n_superclasses():
    with pytest.raises(ValueError, match="n_superclasses"):
        claims.accuracy_gate(make_accuracy().drop(columns="n_superclasses"))


def test_claim_check_rejects_unknown_verdict():
    with pytest.raises(ValueError, match="verdict"):
        claims.ClaimCheck(2, "c", "p", "m", "holds", "e", (0,))
    assert claims.VERDICTS == ("reproduced", "not reproduced", "inconclusive")


def test_shuffling_needs_both_hierarchies():
    scores = make_scores(LATE_RISING)
    with pytest.raises(ValueError, match="both hierarchies"):
        claims.shuffling(scores[scores.hierarchy == "standard"], make_accuracy())


# ------------------------------------------------------------------ claim 1: within network
def make_profile_tables(ami, probe, *, seeds=(0,), archs=("resnet50",), hierarchies=("standard", "shuffled")):
    """Scores with AMI profile ``ami`` and a probe table with accuracy profile ``probe`` (same layers)."""
    n = len(ami)
    rows, prows = [], []
    for arch in archs:
        for hier in hierarchies:
            for seed in seeds:
                for d in range(n):
                    rows.append(
                        {
                            "arch": arch,
                            "hierarchy": hier,
                            "seed": seed,
                            "layer": f"l{d}",
                            "depth": d,
                            "rel_depth": d / (n - 1),
                            "factor": 1,
                            "ami": ami[d],
                        }
                    )
                    prows.append(
                        {"arch": arch, "hierarchy": hier, "seed": seed, "layer": f"l{d}", "probe_acc": probe[d]}
                    )
    return pd.DataFrame(rows), pd.DataFrame(prows)


def _acc(archs=("resnet50",), seeds=(0,), acc=0.9):
    return make_accuracy(acc, seeds=seeds, archs={a: "resnet" for a in archs})


# Fig. 1 (ResNet-50, entity-13-shuffled): probe accuracy rises steadily with depth; AMI rises overall
# but zig-zags inside each stage (a ResNet with 4 stages of 4 blocks, as in the example).
FIG1_PROBE = list(np.linspace(0.30, 0.80, 16))
FIG1_AMI = [0.05, 0.09, 0.07, 0.10, 0.14, 0.11, 0.16, 0.20, 0.17, 0.23, 0.28, 0.25, 0.33, 0.38, 0.36, 0.45]


def test_claim1_fig1_shaped_profile_is_reproduced():
    """Fig. 1's shape: the probe nearly monotonic, AMI rising with drops; its Spearman rho with the probe
    is 0.99, which the old rank-correlation test judged "aligned" and not reproduced."""
    scores, probe = make_profile_tables(FIG1_AMI, FIG1_PROBE)
    check = claims.within_network(scores, probe, _acc())
    assert check.verdict == "reproduced" and check.number == 1
    assert "nearly monotonic" in check.paper and "Sec. 4" in check.paper
    assert "best layer by AMI l15, by probe l15" in check.measured


def test_claim1_rising_but_zigzag_small_is_reproduced():
    scores, probe = make_profile_tables([0.1, 0.3, 0.15, 0.2, 0.5, 0.4], [0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    check = claims.within_network(scores, probe, _acc())
    assert check.verdict == "reproduced"
    assert "best layer by AMI l4, by probe l5" in check.measured


def test_claim1_counter_shapes_are_not_reproduced():
    # AMI as monotonic as the probe: the paper's contrast is absent.
    scores, probe = make_profile_tables([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    check = claims.within_network(scores, probe, _acc())
    assert check.verdict == "not reproduced" and "as monotonic as the probe" in check.explanation
    # A zig-zag probe: not nearly monotonic.
    scores, probe = make_profile_tables(FIG1_AMI, [0.3, 0.5, 0.35, 0.6, 0.45] + FIG1_PROBE[5:])
    check = claims.within_network(scores, probe, _acc())
    assert check.verdict == "not reproduced" and "probe accuracy is not nearly monotonic" in check.explanation
    # AMI that does not rise with depth.
    scores, probe = make_profile_tables([0.3, 0.3, 0.1, 0.2, 0.3, 0.29], [0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    check = claims.within_network(scores, probe, _acc())
    assert check.verdict == "not reproduced" and "does not rise with depth" in check.explanation


def test_claim1_tolerance_is_the_boundary():
    # A probe dip of 0.005 is within the default tolerance 0.01; of 0.02 it is not.
    ami = [0.1, 0.3, 0.15, 0.2, 0.5, 0.4]
    scores, probe = make_profile_tables(ami, [0.3, 0.4, 0.395, 0.6, 0.7, 0.8])
    assert claims.within_network(scores, probe, _acc()).verdict == "reproduced"
    scores, probe = make_profile_tables(ami, [0.3, 0.4, 0.38, 0.6, 0.7, 0.8])
    assert claims.within_network(scores, probe, _acc()).verdict == "not reproduced"
    assert claims.within_network(scores, probe, _acc(), tolerance=0.03).verdict == "reproduced"


def test_claim1_gate_and_missing_probe():
    scores, probe = make_profile_tables([0.1, 0.3, 0.15, 0.2, 0.5, 0.4], [0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    assert claims.within_network(scores, probe, _acc(acc=0.3)).verdict == "inconclusive"
    with pytest.raises(ValueError, match="probe accuracy"):
        claims.within_network(scores, probe[probe["hierarchy"] == "standard"], _acc())


# ------------------------------------------------------------------ claim 7: consistency
def make_consistency(ami_sd, ari_standard, ari_shuffled_late, *, seeds=(0, 1, 2), n=6, ari_shuffled_early=None):
    """Fig. 8-shaped tables: seeds' AMI profiles within ``ami_sd``; ARI ``ari_standard`` everywhere except
    the shuffled hierarchy's last third (``ari_shuffled_late``) and, if given, its other layers
    (``ari_shuffled_early``)."""
    rng = np.random.default_rng(0)
    rows, arows = [], []
    for hier in ("standard", "shuffled"):
        for seed in seeds:
            for d in range(n):
                rows.append(
                    {
                        "arch": "resnet50",
                        "hierarchy": hier,
                        "seed": seed,
                        "layer": f"l{d}",
                        "rel_depth": d / (n - 1),
                        "factor": 1,
                        "ami": 0.2 + 0.05 * d + ami_sd * rng.standard_normal(),
                    }
                )
        for i, a in enumerate(seeds):
            for b in seeds[i + 1 :]:
                for d in range(n):
                    late = d / (n - 1) >= 2 / 3
                    v = ari_shuffled_late if (hier == "shuffled" and late) else ari_standard
                    if hier == "shuffled" and not late and ari_shuffled_early is not None:
                        v = ari_shuffled_early
                    arows.append(
                        {
                            "arch": "resnet50",
                            "hierarchy": hier,
                            "factor": 1,
                            "layer": f"l{d}",
                            "rel_depth": d / (n - 1),
                            "seed_a": a,
                            "seed_b": b,
                            "ari": v,
                        }
                    )
    return pd.DataFrame(rows), pd.DataFrame(arows)


def test_claim7_verdicts():
    acc = _acc(seeds=(0, 1, 2))
    scores, ari = make_consistency(0.005, 0.2, 0.7)
    check = claims.consistency(scores, ari, acc)
    assert check.verdict == "reproduced" and check.number == 7 and check.seeds == (0, 1, 2)
    assert "last-third ARI 0.200 vs 0.700" in check.measured
    scores, ari = make_consistency(0.005, 0.2, 0.25)  # shuffling does not make late layers agree
    assert claims.consistency(scores, ari, acc).verdict == "not reproduced"
    scores, ari = make_consistency(0.2, 0.2, 0.7)  # seeds' AMI profiles differ
    assert "differs across seeds" in claims.consistency(scores, ari, acc).explanation
    scores, ari = make_consistency(0.005, 0.8, 0.95)  # standard ARI is high
    assert "not low" in claims.consistency(scores, ari, acc).explanation
    one, ari1 = make_consistency(0.0, 0.2, 0.7, seeds=(0,))
    assert claims.consistency(one, ari, _acc()).verdict == "inconclusive"
    assert claims.consistency(scores, ari, _acc(seeds=(0, 1, 2), acc=0.2)).verdict == "inconclusive"


def test_claim7_fig8_shaped_is_reproduced_and_flat_shuffled_ari_is_not():
    """Fig. 8 (bottom right): shuffled ARI low early and high in the last layers -> reproduced. A flat
    shuffled ARI of 0.7 at every layer (input-driven, not depth-driven) -> not reproduced."""
    acc = _acc(seeds=(0, 1, 2))
    scores, ari = make_consistency(0.005, 0.2, 0.7)
    check = claims.consistency(scores, ari, acc)
    assert check.verdict == "reproduced"
    assert "especially for the later layers" in check.paper and "Sec. 8" in check.paper
    assert "shuffled ARI first third 0.200, last third 0.700" in check.measured
    scores, ari = make_consistency(0.005, 0.2, 0.7, ari_shuffled_early=0.7)
    check = claims.consistency(scores, ari, acc)
    assert check.verdict == "not reproduced"
    assert "does not rise from the first third" in check.explanation


def test_shuffling_measured_numbers_as_a_table():
    check = claims.shuffling(make_scores(LATE_RISING, seeds=(0, 1)), make_accuracy(seeds=(0, 1)))
    table = check.table()
    assert len(table) == len(check.rows) == check.measured.count("first-third mean gain") >= 1
    assert {"architecture", "factor", "first third", "last third", "gain", "seeds"} <= set(table.columns)
    for row in table.to_dict("records"):  # the same numbers as the measured sentence
        assert f"{row['architecture']}, factor {row['factor']}:" in check.measured
        assert f"first-third mean gain {row['first third']}, last-third {row['last third']}" in check.measured
    md = check.markdown()
    assert "| architecture | factor |" in md and check.note in md and "`" not in md
