"""One dataset object (issue 20): a dataset string is resolved once, and only :mod:`paperlib.data` knows
the kinds of datasets."""

import ast
from pathlib import Path

import pytest

from paperlib import breeds, config, data, experiment, names
from paperlib.data import kinds
from paperlib.testing import write_folder_fixture

PKG = Path(data.__file__).resolve().parents[1]
#: The entry points, which hold the string (it is part of every cache key), and the list of valid names.
ENTRY = {"cli.py", "config.py", "names.py"}
#: Names whose use means a module parses a dataset string or sorts datasets by kind.
KIND_NAMES = {"is_folder", "FOLDER_PREFIX", "canonical_dataset", "IMAGENET_DATASETS", "folder_root", "NORMALIZE"}


def kind_questions(source: str) -> list[str]:
    """Where ``source`` parses a dataset string or asks which kind of dataset it holds: a use of
    :data:`KIND_NAMES`, ``check("dataset", ...)``, the folder prefix as a literal, or a comparison with a
    dataset name or kind."""
    literals = set(names.DATASETS) | set(data.KINDS)
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Name, ast.Attribute)):
            ident = node.id if isinstance(node, ast.Name) else node.attr
            if ident in KIND_NAMES:
                out.append(f"line {node.lineno}: {ident}")
        elif isinstance(node, ast.Call):
            fn = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            first = node.args[0] if node.args else None
            if fn == "check" and isinstance(first, ast.Constant) and first.value == "dataset":
                out.append(f"line {node.lineno}: check('dataset', ...)")
        elif isinstance(node, ast.Constant) and node.value == names.FOLDER_PREFIX:
            out.append(f"line {node.lineno}: {names.FOLDER_PREFIX!r}")
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            consts = [e for s in sides for e in (s.elts if isinstance(s, (ast.Tuple, ast.List, ast.Set)) else [s])]
            hit = [c.value for c in consts if isinstance(c, ast.Constant) and c.value in literals]
            if hit:
                out.append(f"line {node.lineno}: compares with {hit}")
    return out


@pytest.mark.parametrize(
    "snippet",
    [
        'if dataset == "cifar100":\n    pass',
        'cheap = ident.get("dataset") in ("synthetic", "cifar100")',
        "if names.is_folder(cfg.dataset):\n    pass",
        'names.check("dataset", cfg.dataset)',
        "ok = d in data.IMAGENET_DATASETS",
        'folder = dataset.startswith("folder:")',
        "ok = dataset in data.NORMALIZE",
        'if ds.kind == "breeds":\n    pass',
    ],
)
def test_the_scan_finds_each_kind_question(snippet):
    assert kind_questions(snippet), snippet


def test_the_scan_passes_code_that_uses_the_object():
    ok = "ds = data.resolve(cfg.dataset, data_root)\nh = ds.hierarchy('standard')\nx = data.model_input(x, ds, d)"
    assert kind_questions(ok) == []


def test_no_module_outside_data_and_the_entry_points_asks_for_the_kind():
    found = {
        p.name: q
        for p in sorted(PKG.glob("*.py"))
        if p.name not in ENTRY and (q := kind_questions(p.read_text(encoding="utf-8")))
    }
    assert found == {}, found


def test_one_experiment_run_checks_the_dataset_name_once(monkeypatch, tmp_path):
    """Following ``dataset`` through one ``experiment.run`` (train, extract, cluster, score): the name is
    checked (parsed) once, where the code before the dataset object checked it twelve times."""
    calls = []
    check = names.check

    def counting(kind, value):
        if kind == "dataset":
            calls.append(value)
        return check(kind, value)

    kinds.parse.cache_clear()
    monkeypatch.setattr(names, "check", counting)
    prof = config.get_profile("smoke", epochs=1, widths={"resnet_mini": 2}, train_per_subclass=8, val_per_subclass=10)
    experiment.run(prof, ["resnet"], hierarchies=["standard"], factors=[1], progress=False, cache_dir=tmp_path)
    assert calls == ["synthetic"]


def test_resolve_gives_each_kind_and_its_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "root"))
    syn, cif, liv = data.resolve("synthetic"), data.resolve("cifar100"), data.resolve("living17")
    assert (syn.kind, cif.kind, liv.kind) == ("synthetic", "cifar100", "breeds")
    assert cif.root == liv.root == (tmp_path / "root").resolve()
    assert data.resolve("cifar100", tmp_path / "other").root == (tmp_path / "other").resolve()
    assert [d.decodes_files for d in (syn, cif, liv)] == [False, False, True]
    assert [d.cheap_identity for d in (syn, cif, liv)] == [True, True, False]
    assert (liv.mean, liv.std) == data.NORMALIZE["imagenet"] and cif.mean == data.NORMALIZE["cifar100"][0]
    assert data.resolve(syn) is syn and str(liv) == "living17"
    assert liv.base_hierarchy().to_dict() == breeds.load_breeds("living17").to_dict()
    with pytest.raises(data.DataNotFound, match="cifar-100-python"):
        cif.check()
    for bad in ("imagenet21k", 3, None, "folder:"):
        with pytest.raises(ValueError, match="unknown dataset"):
            data.resolve(bad)


def test_a_folder_resolves_to_one_canonical_name_and_is_read_through_the_object(tmp_path, monkeypatch):
    root = write_folder_fixture(tmp_path / "birds", per_subclass=10)
    monkeypatch.chdir(tmp_path)
    ds = data.resolve("folder:birds")
    assert ds.kind == "folder" and ds.name == f"folder:{root.resolve()}" and ds.root == root.resolve()
    assert data.resolve(f"folder:{root}/").name == ds.name
    assert ds.decodes_files and not ds.cheap_identity and (ds.mean, ds.std) == data.NORMALIZE["imagenet"]
    tr, va = ds.split("train"), ds.split("val")
    assert len(tr) + len(va) == sum(len(g) for g in ds.base_hierarchy().groups) * 10
    assert data.load_split("folder:birds", "val").paths == va.paths
    assert data.data_identity(ds, splits=("train",)) == data.data_identity(f"folder:{root}", splits=("train",))
    assert ds.identity(("train",))["dataset"] == ds.name


def test_statistics_from_a_name_an_object_or_a_preprocess():
    syn = data.resolve("synthetic")
    import torch

    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    by_name, by_object = data.normalize(x, "synthetic"), data.normalize(x, syn)
    assert torch.equal(by_name, by_object) and by_name[0, 0, 0, 0].item() == pytest.approx((1 - 0.5) / 0.25)
    assert data.Preprocess.for_dataset("folder:/nowhere", 32).mean == data.NORMALIZE["imagenet"][0]
    assert data.statistics_known("entity13") and not data.statistics_known("my-birds")
