import subprocess
import sys

import pandas as pd

from paperlib import cli, data


def test_data_command_explains_missing_cifar(tmp_path, capsys):
    assert cli.main(["data", "--profile", "quick", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cifar-100-python" in err and str(tmp_path) in err and "PROFILE=smoke" in err


def test_unknown_profile_and_arch(capsys):
    assert cli.main(["train", "--profile", "huge"]) == 2
    assert "smoke" in capsys.readouterr().err
    assert cli.main(["train", "--profile", "smoke", "--arch", "alexnet"]) == 2
    assert "resnet_mini" in capsys.readouterr().err


def test_score_writes_csv(tmp_path):
    out = tmp_path / "s.csv"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "paperlib",
            "score",
            "--profile",
            "smoke",
            "--arch",
            "resnet",
            "--epochs",
            "1",
            "--factors",
            "1",
            "--no-progress",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out)
    assert {"layer", "factor", "ami", "purity"} <= set(df.columns)
    assert df["layer"].iloc[0] == "stage1_block1" and "superclass accuracy" in res.stderr


def test_extract_writes_embeddings(tmp_path, capsys):
    from paperlib import cache

    out = tmp_path / "e.npz"
    args = [
        "extract",
        "--profile",
        "smoke",
        "--arch",
        "resnet",
        "--epochs",
        "1",
        "--no-progress",
        "--layers",
        "stage2_block1",
        "penultimate",
        "--out",
        str(out),
    ]
    assert cli.main(args) == 0
    z = cache.load(out)
    assert z["layer/stage2_block1"].shape[0] == len(z["subclass"]) == len(z["superclass"]) == 16 * data.SYN_SIZES["val"]
    assert z["layer/penultimate"].ndim == 2
    assert cli.main(args[:-5] + ["--layers", "nope", "--out", str(out)]) == 2
    assert "stage1_block1" in capsys.readouterr().err


def test_epochs_zero_or_negative_is_refused_not_replaced(capsys):
    for bad in ("0", "-1"):
        assert cli.main(["train", "--profile", "smoke", "--epochs", bad, "--no-progress"]) == 2
        assert "epochs" in capsys.readouterr().err


def test_extract_refuses_unknown_layers_before_training(tmp_path, capsys, monkeypatch):
    from paperlib import train

    monkeypatch.setattr(train, "train_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    args = [
        "extract",
        "--profile",
        "smoke",
        "--arch",
        "vgg",
        "--no-progress",
        "--layers",
        "conv9_9",
        "--out",
        str(tmp_path / "e.npz"),
    ]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "conv9_9" in err and "fc6" in err


def test_bad_profile_values_are_refused_before_torch_loads():
    code = (
        "import sys\nfrom paperlib import cli\nrc = cli.main(['train', '--profile', 'smoke', '--epochs', '-1'])\n"
        "print(rc, 'torch' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.split() == ["2", "False"], res.stdout + res.stderr
    assert "epochs" in res.stderr


def test_dataset_by_name_or_folder(tmp_path, capsys):
    """--dataset takes a named dataset or folder:ROOT; a wrong one lists the valid names, a missing
    folder says what layout to put where, and a good folder is checked without training."""
    import pytest

    from paperlib.testing import write_folder_fixture

    with pytest.raises(SystemExit):
        cli.main(["train", "--profile", "smoke", "--dataset", "imagenet21k"])
    err = capsys.readouterr().err
    assert "cifar100" in err and "folder:ROOT" in err
    assert cli.main(["data", "--dataset", f"folder:{tmp_path / 'nowhere'}"]) == 2
    assert "ROOT/<superclass>/<subclass>" in capsys.readouterr().err
    root = write_folder_fixture(tmp_path / "mine", per_subclass=5)
    assert cli.main(["data", "--dataset", f"folder:{root}"]) == 0
    assert str(root) in capsys.readouterr().out


def test_data_checks_the_profiles_out_of_distribution_sets(tmp_path, capsys):
    from paperlib.testing import write_cifar10_fixture, write_cifar100_fixture, write_svhn_fixture

    write_cifar100_fixture(tmp_path, {"train": 2, "test": 1})
    assert cli.main(["data", "--profile", "quick", "--data-root", str(tmp_path)]) == 2
    assert "cifar-10-batches-py" in capsys.readouterr().err
    write_cifar10_fixture(tmp_path, per_class=2)
    write_svhn_fixture(tmp_path, per_class=2)
    assert cli.main(["data", "--profile", "quick", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cifar10 (out of distribution): ready" in out and "svhn (out of distribution): ready" in out


def _subcommands(parser, path=()):
    """(path, parser) of every parser and subparser of the command line."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommands(sub, (*path, name))


def _options(parser):
    import argparse

    return [
        a
        for a in parser._actions
        if a.option_strings and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))
    ]


def test_version_is_the_installed_metadata(capsys):
    from importlib.metadata import version

    import paperlib

    assert paperlib.__version__ == version("paperlib")
    try:
        cli.main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"paperlib {paperlib.__version__}"
    out = subprocess.run([sys.executable, "-m", "paperlib", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"paperlib {paperlib.__version__}"


def test_every_option_of_every_command_has_plain_help():
    parser = cli.build_parser()
    missing = [
        (" ".join(path), a.option_strings[0]) for path, p in _subcommands(parser) for a in _options(p) if not a.help
    ]
    assert not missing, f"options without help: {missing}"
    texts = [parser.format_help()] + [p.format_help() for _, p in _subcommands(parser)]
    assert not [t for t in texts if "``" in t or ":mod:" in t or ":func:" in t], "reStructuredText in --help"


#: Options whose default differs between commands, and why (the help of each says so too).
DIFFERENT_DEFAULTS = {
    # score: every factor the cluster jobs score and cache; report: nothing cached, one line per factor
    "factors",
    # extract writes embeddings to disk (flattened maps are large); score and report cluster the flattened maps
    "pool",
    # extract saves embeddings (penultimate: every layer's would be large); report draws the whole per-layer profile
    "layers",
    # extract writes a binary .npz and so requires a file; score's CSV goes to stdout unless a file is named
    "out",
}


def test_the_same_option_has_the_same_default_in_every_command():
    seen: dict[str, dict[str, object]] = {}
    for path, p in _subcommands(cli.build_parser()):
        for a in _options(p):
            seen.setdefault(a.dest, {})[" ".join(path)] = a.default
    differ = {
        dest: by_cmd
        for dest, by_cmd in seen.items()
        if dest not in DIFFERENT_DEFAULTS and len({repr(v) for v in by_cmd.values()}) > 1
    }
    assert not differ, f"one option, different defaults (add a stated reason to DIFFERENT_DEFAULTS): {differ}"
