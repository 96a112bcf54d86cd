import json
import subprocess
import sys

import pytest
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.data import bundled_mnist


def write_digits(folder, digit, count):
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = bundled_mnist()
    for index, image in enumerate(images[labels == digit][:count]):
        Image.fromarray(image).save(folder / f"{digit}_{index}.png")
    return folder


def test_sample_writes_pngs_and_grid(tmp_path, capsys):
    out = tmp_path / "samples"
    assert main(["sample", "--n", "4", "--steps", "3", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    names = sorted(path.name for path in out.iterdir())
    assert names == ["000000.png", "000001.png", "000002.png", "000003.png", "grid.png"]
    with Image.open(out / "000002.png") as picture:
        assert picture.size == (28, 28)
        assert picture.mode == "L"
    assert "wrote 4 samples" in capsys.readouterr().out


def test_same_seed_same_pngs(tmp_path):
    for name in ("a", "b"):
        main(["sample", "--n", "2", "--steps", "3", "--seed", "7", "--out", str(tmp_path / name), "--quiet"])
    assert (tmp_path / "a" / "000001.png").read_bytes() == (tmp_path / "b" / "000001.png").read_bytes()


def test_evaluate_json(capsys):
    assert main(["evaluate", "--forget-class", "7", "--n", "8", "--steps", "3", "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 8
    assert report["forget_classes"] == [7]
    assert 0.0 <= report["forget_rate"] <= 1.0
    assert len(report["histogram"]) == 10
    assert sum(report["histogram"]) == pytest.approx(1.0)


def test_moderate_class_writes_checkpoint(tmp_path, capsys):
    out = tmp_path / "moderated.safetensors"
    assert main(["moderate", "--forget-class", "7", "--steps", "2", "--out", str(out), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 2
    assert report["method"] == "obtuse"
    entry = load_checkpoint(out).history[-1]
    assert entry["kind"] == "moderation"
    assert "class(es) 7" in entry["forget_set"]


def test_moderate_forget_folder(tmp_path, capsys):
    folder = write_digits(tmp_path / "sevens", 7, 5)
    (folder / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "m.safetensors"
    assert main(["moderate", "--forget", str(folder), "--method", "orthogonal", "--steps", "2", "--out", str(out), "--quiet"]) == 0
    assert "5 images from" in load_checkpoint(out).history[-1]["forget_set"]
    assert "skipped" in capsys.readouterr().err


def test_pretrain_writes_loadable_model(tmp_path):
    out = tmp_path / "base.safetensors"
    assert main(["pretrain", "--steps", "2", "--batch-size", "4", "--exclude-class", "7", "--out", str(out), "--quiet"]) == 0
    model = load_checkpoint(out)
    assert model.history[0]["exclude_classes"] == [7]


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["sample", "--checkpoint", "{tmp}/missing.safetensors", "--out", "{tmp}/out"], "checkpoint not found"),
        (["sample", "--checkpoint", "{tmp}/notes.txt", "--out", "{tmp}/out"], "not a checkpoint"),
        (["moderate", "--forget", "{tmp}/empty", "--out", "{tmp}/out.safetensors"], "no readable image"),
        (["moderate", "--forget-class", "12", "--out", "{tmp}/out.safetensors"], "outside 0-9"),
        (["moderate", "--forget-class", "7", "--out", "{tmp}/no/such/out.safetensors"], "does not exist"),
        (["moderate", "--forget-class", "7", "--out", "{tmp}/notes.txt/out.safetensors"], "is a file, not a folder"),
        (["pretrain", "--steps", "1", "--out", "/proc/out.safetensors"], "cannot write /proc/out.safetensors"),
        (["evaluate", "--forget-class", "7", "--checkpoint", "{tmp}/notes.txt"], "not a checkpoint"),
        (["sample", "--n", "0", "--out", "{tmp}/out"], "at least 1"),
        (["sample", "--steps", "0", "--out", "{tmp}/out"], "--steps must be at least 1"),
        (["pretrain", "--exclude-class", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "--out", "{tmp}/p.safetensors"], "nothing to train on"),
        (["pretrain", "--lr", "-1", "--out", "{tmp}/p.safetensors"], "learning rate must be positive"),
        (["pretrain", "--batch-size", "0", "--out", "{tmp}/p.safetensors"], "at least 1"),
    ],
)
def test_bad_input_exit_2_one_line(tmp_path, capsys, arguments, message):
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    before = sorted(tmp_path.rglob("*"))
    assert main([part.format(tmp=tmp_path) for part in arguments] + ["--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error
    assert len(error.splitlines()) == 1
    assert sorted(tmp_path.rglob("*")) == before


def test_missing_forget_source_is_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["moderate", "--out", "x.safetensors"])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "--forget-class" in error
    assert len(error.splitlines()) == 1


def test_forget_files_retain_exclude_class(tmp_path, capsys):
    folder = write_digits(tmp_path / "sevens", 7, 3)
    out = tmp_path / "m.safetensors"
    assert main(["moderate", "--forget", str(folder), "--retain-exclude-class", "7", "--steps", "1", "--out", str(out), "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["retain_images"] == 4500


def test_small_retain_folder_warns(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    retain = write_digits(tmp_path / "ones", 1, 5)
    assert main(["moderate", "--forget-class", "7", "--retain", str(retain), "--steps", "1", "--out", str(out),
                 "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["retain_images"] == 5
    assert "warning: only 5 retain images" in captured.err
    assert load_checkpoint(out).history[-1]["retain_images"] == 5


def test_sample_folder_has_normal_permissions(tmp_path):
    out = tmp_path / "samples"
    main(["sample", "--n", "1", "--steps", "1", "--out", str(out), "--quiet"])
    assert out.stat().st_mode & 0o777 == 0o777 & ~_current_umask()


def _current_umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_console_script_exit_status(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "msgm_studio", "evaluate", "--forget-class", "7", "--checkpoint", str(tmp_path / "none.safetensors")],
        capture_output=True, text=True,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().startswith("msgm-studio evaluate: error: checkpoint not found")


def test_missing_file_to_open_is_one_line_error(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "msgm_studio", str(tmp_path / "gone.msgmproj")],
                               capture_output=True, text=True)
    assert completed.returncode == 2
    assert completed.stderr.strip() == f"msgm-studio: error: {tmp_path / 'gone.msgmproj'} not found; give the path of a checkpoint or project file"
