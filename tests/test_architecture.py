"""Peaks per architecture, Table G.1 beside the paper, and claim 6, on hand-made tables."""

import numpy as np
import pandas as pd
import pytest

from paperlib import architecture, claims

VGG_LAYERS = ["conv1", "conv2", "conv3", "fc6", "fc7"]
RES_LAYERS = ["s1", "s2", "s3", "penultimate"]


def _rows(family, arch, layers, amis, seed=0, hierarchy="standard", factor=1):
    n = len(layers)
    return [dict(family=family, arch=arch, hierarchy=hierarchy, seed=seed, loss="softmax", layer=layer, depth=i,
                 rel_depth=i / (n - 1), factor=factor, ami=a, purity=a) for i, (layer, a) in enumerate(zip(layers, amis))]


def _paper_like(seeds=(0,), vit_ami=0.15, bn_peak="conv3"):
    rows = []
    for s in seeds:
        e = 0.002 * s
        rows += _rows("vgg", "vgg_mini", VGG_LAYERS, [0.1, 0.2, 0.3, 0.5 + e, 0.45], s)
        bn = [0.1, 0.2, 0.5 + e, 0.4, 0.35] if bn_peak == "conv3" else [0.1, 0.2, 0.3, 0.35, 0.5]
        rows += _rows("vgg_bn", "vgg_mini_bn", VGG_LAYERS, bn, s)
        rows += _rows("resnet", "resnet_mini", RES_LAYERS, [0.1, 0.2, 0.3, 0.4 + e], s)
        rows += _rows("vit", "vit_mini", RES_LAYERS, [0.05, 0.1, vit_ami + e, 0.1], s)
    return pd.DataFrame(rows)


def _accuracy(scores, acc=0.9):
    m = scores[["family", "arch", "hierarchy", "seed", "loss"]].drop_duplicates().copy()
    m["accuracy"], m["n_superclasses"], m["epochs"] = acc, 4, 1
    return m


def test_peak_layers_and_ties():
    df = _paper_like()
    p = architecture.peak_layers(df).set_index("family")
    assert p.loc["vgg", "peak_layer"] == "fc6" and p.loc["vgg", "peak_rel_depth"] == 0.75
    assert p.loc["resnet", "peak_layer"] == "penultimate" and p.loc["vit", "peak"] == pytest.approx(0.15)
    assert np.isnan(p.loc["vgg", "max_seed_sd"]) and p.loc["vgg", "n_layers"] == 5
    tie = pd.DataFrame(_rows("vgg", "v", ["a", "b"], [0.3, 0.3]))
    assert architecture.peak_layers(tie)["peak_layer"].item() == "a"
    with pytest.raises(ValueError, match="family"):
        architecture.peak_layers(tie.drop(columns="family"))


def test_accuracy_beside_paper_reads_table_g1():
    acc = pd.DataFrame({"family": ["resnet", "resnet", "vit"], "arch": ["r", "r", "v"],
                        "hierarchy": ["standard", "shuffled", "standard"], "seed": [0, 0, 0],
                        "accuracy": [0.5, 0.25, 0.125]})
    t = architecture.accuracy_beside_paper(acc, "entity13").set_index(["arch", "hierarchy"])
    assert t.loc[("r", "standard"), "paper %"] == 92.2 and t.loc[("r", "shuffled"), "paper %"] == 88.3
    assert t.loc[("r", "standard"), "measured %"] == 50.0 and t.loc[("v", "standard"), "architecture"] == "ViT-B/32"
    assert np.isnan(architecture.accuracy_beside_paper(acc, "synthetic")["paper %"]).all()


def test_claim6_reproduced_on_the_papers_pattern():
    df = _paper_like()
    c = claims.architecture(df, _accuracy(df))
    assert c.number == 6 and c.verdict == "reproduced", c.explanation
    assert "vgg (vgg_mini) peaks at fc6" in c.measured and "With 1 seed" in c.explanation


def test_claim6_each_failure_is_named():
    df = _paper_like(vit_ami=0.6, bn_peak="fc7")
    c = claims.architecture(df, _accuracy(df))
    assert c.verdict == "not reproduced"
    assert "batch-normalised VGG (vgg_bn) peaks at relative depth 1.00" in c.explanation and "ViT's peak AMI 0.600" in c.explanation


def test_claim6_gate_and_seed_spread():
    df = _paper_like()
    assert claims.architecture(df, _accuracy(df, acc=0.3)).verdict == "inconclusive"
    # 3 seeds with a large spread of ViT's profile: ViT lower only within the spread
    rows = [r for s in (0, 1, 2) for r in _rows("vit", "vit_mini", RES_LAYERS, [0.05, 0.1, 0.3 + 0.08 * s, 0.1], s)]
    rows += [r for s in (0, 1, 2) for r in _rows("resnet", "resnet_mini", RES_LAYERS, [0.1, 0.2, 0.3, 0.45], s)]
    df = pd.DataFrame(rows)
    c = claims.architecture(df, _accuracy(df))
    assert c.verdict == "inconclusive" and "seed spread" in c.explanation


def test_claim6_reads_every_hierarchy_scored():
    df = pd.concat([_paper_like(), _paper_like(vit_ami=0.6).assign(hierarchy="shuffled")], ignore_index=True)
    c = claims.architecture(df, _accuracy(df))
    assert c.verdict == "not reproduced" and c.explanation.startswith("Shuffled: ViT's peak AMI 0.600")
    assert "standard: vgg (vgg_mini) peaks at fc6" in c.measured and "shuffled: vgg" in c.measured
