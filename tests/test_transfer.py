"""Out-of-distribution sets read in their own formats, and one Ward clustering of a whole set."""

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import fcluster, ward

from paperlib import config, data, testing, train, transfer


def _purity_by_hand(y, c):
    table = pd.crosstab(c, y)
    return table.max(axis=1).sum() / len(y)


def test_each_set_is_read_in_its_own_format(tmp_path):
    testing.write_cifar10_fixture(tmp_path, per_class=4)
    testing.write_svhn_fixture(tmp_path, per_class=4)
    testing.write_ood_folder_fixture(tmp_path, "uc_merced", n_classes=3, per_class=2, fmt="tif")
    testing.write_pets_fixture(tmp_path, per_class=2)
    c10, names10 = data.ood_split("cifar10", tmp_path)
    assert len(c10) == 40 and names10[0] == "c0" and c10.images.shape == (40, 3, 32, 32)
    svhn, _ = data.ood_split("svhn", tmp_path, per_class=3)
    assert len(svhn) == 30 and set(svhn.subclass) == set(range(10))  # label 10 read as digit 0
    # the fixture's class colour survives the MATLAB layout (X is 32 x 32 x 3 x n)
    assert svhn.images[svhn.subclass == 1].float().mean((0, 2, 3)).argmax() == 1  # class 1: (37, 91, 53): green
    uc, uc_names = data.ood_split("uc_merced", tmp_path)
    assert uc_names == ("class00", "class01", "class02") and uc.paths[0].endswith(".tif")
    pets, breeds = data.ood_split("pets", tmp_path)
    assert breeds == ("Abyssinian", "beagle", "great_pyrenees") and list(pets.subclass) == [0, 0, 1, 1, 2, 2]
    world, classes = data.ood_split("synthetic_novel")
    assert len(world) == 320 and len(classes) == 8 and classes[0] == "heart"


def test_missing_and_unknown_sets_say_what_to_do(tmp_path):
    with pytest.raises(data.DataNotFound, match=r"cifar-10-batches-py.*--download"):
        data.check_ood("cifar10", tmp_path)
    with pytest.raises(data.DataNotFound, match=r"ood/cars/<model>"):
        data.check_ood("cars", tmp_path)
    with pytest.raises(ValueError, match=r"unknown OOD set 'mnist'; valid: \['synthetic_novel', 'synthetic_overlap'"):
        data.ood_split("mnist", tmp_path)


@pytest.fixture(scope="module")
def tiny():
    prof = config.get_profile("smoke", epochs=1, widths={"resnet_mini": 2})
    return prof, train.train_model(prof.train_config("resnet"), progress=False)


def test_ood_purity_matches_scipy_ward(tiny, tmp_path):
    prof, trained = tiny
    df = transfer.ood_scores(trained, "synthetic_novel", factors=[1, 2], cache_dir=tmp_path)
    assert list(df.columns) == transfer.OOD_COLUMNS and df["n_clusters"].tolist() == [8, 16]
    # independent: the same embedding, scipy's Ward tree cut by fcluster, purity from a contingency table
    split, _ = data.ood_split("synthetic_novel")
    emb = transfer._embed(trained, split, train.resolve_device("cpu"), 256, 0)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, rtol=1e-5)
    z = ward(emb.astype(np.float64))
    for k, p in zip((8, 16), df["purity"]):
        assert p == pytest.approx(_purity_by_hand(split.subclass, fcluster(z, k, criterion="maxclust")), abs=1e-9)
    # cached: a second call reads the one file back and writes nothing (patching a function would change
    # the code version in the key, so the file's modification time is the witness)
    (f,) = (tmp_path / "transfer").glob("*/transfer.json")
    before = f.stat().st_mtime_ns
    pd.testing.assert_frame_equal(
        transfer.ood_scores(trained, "synthetic_novel", factors=[1, 2], cache_dir=tmp_path), df
    )
    assert list((tmp_path / "transfer").glob("*/transfer.json")) == [f] and f.stat().st_mtime_ns == before


def test_grid_checks_every_set_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "train_model", lambda *a, **k: pytest.fail("trained before checking the sets"))
    prof = config.get_profile("smoke", ood_sets=("cifar10",))
    with pytest.raises(data.DataNotFound, match="cifar10"):
        transfer.transfer_grid(prof, ["resnet"], data_root=tmp_path, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown OOD set"):
        config.get_profile("smoke", ood_sets=("imagenet_a",))


def test_subclass_labels_train_on_the_fine_hierarchy_and_are_not_clustered_within(monkeypatch):
    from paperlib import experiment

    prof = config.get_profile("smoke")
    cfg = prof.train_config("resnet", hierarchy="subclass")
    h = data.hierarchy_for("synthetic", cfg.hierarchy)
    assert h.n_superclasses == h.n_subclasses == 16 and h.superclasses[0] == "disc"
    monkeypatch.setattr(train, "train_model", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="nothing to cluster"):
        experiment.run(prof, ["resnet"], hierarchies=["subclass"])
    with pytest.raises(ValueError, match=r"unknown training labels 'fine'"):
        prof.train_config("resnet", hierarchy="fine")


def test_fig3_trains_on_every_breeds_set_at_paper_and_names_models_by_set():
    assert config.experiment_datasets(config.get_profile("paper"), "fig3_transfer") == (
        "entity13",
        "living17",
        "nonliving26",
    )  # living-17 holds four of Pets' breeds (the paper's Pets exception)
    assert config.experiment_datasets(config.get_profile("smoke"), "fig3_transfer") == ("synthetic",)
    cfgs = config.experiment_configs(config.get_profile("paper"), "fig3_transfer")
    assert {(c.dataset, c.hierarchy) for c in cfgs} >= {("living17", "standard"), ("living17", "subclass")}
    one = pd.DataFrame({"arch": ["r", "r"], "dataset": ["synthetic", "synthetic"], "purity": [0.1, 0.2]})
    assert transfer.by_training_set(one)[0] is one  # one training set: unchanged
    two = one.assign(dataset=["entity13", "living17"])
    ood, acc = transfer.by_training_set(two, two.iloc[:1])
    assert list(ood["arch"]) == ["r (entity13)", "r (living17)"] and list(acc["arch"]) == ["r (entity13)"]
    with pytest.raises(ValueError, match="arch and dataset"):
        transfer.by_training_set(one.drop(columns="dataset"))
    with pytest.raises(ValueError, match="non-empty"):
        transfer.transfer_grid(config.get_profile("smoke"), ["resnet"], datasets=[])
