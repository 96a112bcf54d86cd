import numpy as np
import pytest
import torch
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.data import bundled_mnist, bundled_tensors
from engine.downstream import ReconstructionConfig, iter_inpaint, iter_reconstruct
from engine.errors import UserError
from engine.metrics import Labels
from engine.sampling import SamplerConfig, run
from resources import BASE_MODEL


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(BASE_MODEL)


def bottom_half_mask(count):
    masks = torch.ones(count, 1, 28, 28)
    masks[:, :, 14:] = 0
    return masks


def test_inpainting_keeps_known_pixels_exactly(bundled):
    images, _ = bundled_tensors(classes=[2])
    images = images[:3]
    result = run(iter_inpaint(bundled, images, bottom_half_mask(3), seed=1, config=SamplerConfig(sampler="pc", steps=5)))
    assert torch.equal(result[:, :, :14], images[:, :, :14])
    assert not torch.equal(result[:, :, 14:], images[:, :, 14:])


def test_all_white_mask_returns_image(bundled):
    images, _ = bundled_tensors(classes=[4])
    images = images[:2]
    result = run(iter_inpaint(bundled, images, torch.ones(2, 1, 28, 28), config=SamplerConfig(sampler="em", steps=3)))
    assert torch.equal(result, images)


def test_inpainting_mask_shape_checked(bundled):
    images, _ = bundled_tensors(classes=[4])
    with pytest.raises(UserError, match="does not match"):
        run(iter_inpaint(bundled, images[:2], torch.ones(2, 1, 14, 14)))


def test_ode_reconstruction_keeps_class(bundled):
    images, labels = bundled_tensors(classes=[0, 1, 3, 6])
    chosen = torch.tensor([0, 500, 1000, 1500])
    result = run(iter_reconstruct(bundled, images[chosen], config=ReconstructionConfig(method="ode", t=0.02, steps=20)))
    assert Labels.of(result).predicted.tolist() == labels[chosen].tolist()


def test_reconstruction_settings_checked():
    with pytest.raises(UserError, match="t must be in"):
        ReconstructionConfig(t=1.5).validate()
    with pytest.raises(UserError, match="unknown reconstruction method"):
        ReconstructionConfig(method="vae").validate()


def write_digit(path, digit=7, index=0):
    images, labels = bundled_mnist()
    Image.fromarray(images[labels == digit][index]).save(path)
    return path


def write_mask(path, size=(28, 28), fill_rows=range(14, 28)):
    mask = np.full(size[::-1], 255, dtype=np.uint8)
    mask[list(fill_rows)] = 0
    Image.fromarray(mask).save(path)
    return path


def test_cli_inpaint_names_outputs_like_inputs(tmp_path):
    first = write_digit(tmp_path / "seven.png", 7)
    second = write_digit(tmp_path / "two.bmp", 2)
    mask = write_mask(tmp_path / "mask.png")
    out = tmp_path / "out"
    assert main(["inpaint", "--image", str(first), str(second), "--mask", str(mask), "--steps", "4", "--out", str(out), "--quiet"]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["seven.png", "two.png"]
    kept = np.asarray(Image.open(out / "seven.png"))[:14]
    assert np.array_equal(kept, np.asarray(Image.open(first))[:14])


def test_cli_inpaint_bad_inputs_skipped(tmp_path, capsys):
    good = write_digit(tmp_path / "good.png", 3)
    (tmp_path / "broken.png").write_bytes(b"nope")
    Image.new("L", (40, 40)).save(tmp_path / "big.png")
    mask = write_mask(tmp_path / "mask.png")
    out = tmp_path / "out"
    code = main(["inpaint", "--image", str(good), str(tmp_path / "broken.png"), str(tmp_path / "big.png"),
                 "--mask", str(mask), "--steps", "3", "--out", str(out), "--quiet"])
    assert code == 2
    assert sorted(path.name for path in out.iterdir()) == ["good.png"]
    error = capsys.readouterr().err
    assert "broken.png: not a readable image" in error
    assert "the mask is 28x28 but the image is 40x40" in error


def test_cli_inpaint_white_mask_rejected(tmp_path, capsys):
    image = write_digit(tmp_path / "a.png")
    mask = write_mask(tmp_path / "white.png", fill_rows=[])
    assert main(["inpaint", "--image", str(image), "--mask", str(mask), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "nothing to fill" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_never_overwrites_input(tmp_path, capsys):
    image = write_digit(tmp_path / "c.png", 5)
    before = image.read_bytes()
    assert main(["reconstruct", "--image", str(image), "--steps", "2", "--out", str(tmp_path), "--quiet"]) == 2
    assert "would overwrite an input image" in capsys.readouterr().err
    assert image.read_bytes() == before


@pytest.mark.parametrize("method", ["ode", "sde"])
def test_cli_reconstruct(tmp_path, method):
    image = write_digit(tmp_path / "nine.png", 9)
    out = tmp_path / "out"
    assert main(["reconstruct", "--image", str(image), "--method", method, "--t", "0.3", "--steps", "4", "--out", str(out), "--quiet"]) == 0
    with Image.open(out / "nine.png") as picture:
        assert picture.size == (28, 28)
