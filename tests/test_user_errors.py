"""Every error a user can cause is one ``paperlib: error:`` line, before any compute."""

import pathlib
import subprocess
import sys

import pytest
from PIL import Image

from paperlib import cli, report
from paperlib.testing import write_folder_fixture


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("paperlib: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder_fixture(tmp_path_factory.mktemp("mine"), per_subclass=5)


@pytest.mark.parametrize(
    "name, content", [("g.pt", b"garbage\n"), ("z.pt", b"PK\x03\x04garbage"), ("g.safetensors", b"garbage\n")]
)
def test_a_garbage_checkpoint(name, content, folder, tmp_path, capsys):
    ckpt = tmp_path / name
    ckpt.write_bytes(content)
    rc = cli.main(
        [
            "report",
            "--model",
            "resnet_mini",
            "--checkpoint",
            str(ckpt),
            "--folder",
            str(folder),
            "--out-dir",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    assert rc == 2
    err = one_error_line(capsys)
    assert f"cannot read checkpoint {ckpt}: not a PyTorch or safetensors weights file" in err
    assert "trust" not in err  # garbage is not a pickle that needs trust


def test_out_dir_or_cache_dir_naming_a_file(folder, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert cli.main(["report", "--model", "resnet_mini", "--folder", str(folder), "--out-dir", str(afile)]) == 2
    assert f"--out-dir {afile} is a file" in one_error_line(capsys)
    assert cli.main(["status", "--profile", "smoke", "--cache-dir", str(afile)]) == 2
    assert f"--cache-dir {afile} is a file" in one_error_line(capsys)
    assert cli.main(["cache", "list", "--cache-dir", str(afile)]) == 2
    one_error_line(capsys)


def test_an_unreadable_subclass_folder(folder, monkeypatch, capsys):
    sub = sorted(p for p in folder.rglob("*") if p.is_dir() and any(p.glob("*.png")))[0]
    real = pathlib.Path.iterdir

    def iterdir(self):
        if self == sub:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(pathlib.Path, "iterdir", iterdir)
    assert cli.main(["data", "--dataset", f"folder:{folder}"]) == 2
    err = one_error_line(capsys)
    assert f"Permission denied: {sub}" in err


def test_slurm_launcher_without_slurm(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun, no sbatch
    rc = cli.main(
        [
            "train",
            "--profile",
            "smoke",
            "--launcher",
            "slurm",
            "--cache-dir",
            str(tmp_path / "c"),
            "--epochs",
            "1",
            "--no-progress",
        ]
    )
    assert rc == 2
    assert "--launcher slurm needs SLURM's commands" in one_error_line(capsys)


def test_report_batch_size_zero_before_reading_any_image(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "folder_split", lambda *a, **k: pytest.fail("the folder was read"))
    assert (
        cli.main(
            [
                "report",
                "--model",
                "resnet_mini",
                "--folder",
                str(folder),
                "--out-dir",
                str(tmp_path / "o"),
                "--batch-size",
                "0",
            ]
        )
        == 2
    )
    assert "batch_size must be a positive integer, got 0" in one_error_line(capsys)


def test_a_decompression_bomb_in_train(tmp_path, monkeypatch, capsys):
    root = write_folder_fixture(tmp_path / "mine", per_subclass=5)
    bomb = sorted(root.rglob("*.png"))[0]
    Image.new("L", (64, 64)).save(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30 * 30)  # 64 x 64 is more than twice that: a bomb
    rc = cli.main(
        [
            "train",
            "--profile",
            "smoke",
            "--dataset",
            f"folder:{root}",
            "--cache-dir",
            str(tmp_path / "c"),
            "--epochs",
            "1",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("paperlib: error: 1 of ") and str(bomb) in err and "DecompressionBomb" in err
    assert "Traceback" not in err and not (tmp_path / "c" / "models").exists()


@pytest.mark.parametrize("args", [["--arch", "nope"], ["--loss", "nope"], ["--experiment", "nope"]])
def test_unknown_names_are_refused_before_torch_loads(args):
    code = (
        "import sys\nfrom paperlib import cli\nrc = cli.main(['train', '--profile', 'smoke', *sys.argv[1:]])\n"
        "print('torch' in sys.modules)\nsys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout.strip() == "False", out.stdout + out.stderr
    assert out.stderr.startswith("paperlib: error: unknown ")


@pytest.mark.parametrize("seed", [0.5, True, -1])
def test_a_seed_that_is_not_a_whole_number_is_refused_by_name(seed, monkeypatch):
    from paperlib import config, experiment, train

    monkeypatch.setattr(train, "train_model", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=rf"TrainConfig.seed must be an integer >= 0, got {seed!r}"):
        experiment.run(config.get_profile("smoke"), ["resnet"], seeds=[seed], progress=False)
