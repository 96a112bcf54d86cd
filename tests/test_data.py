import numpy as np
import pytest
import torch
from PIL import Image

from engine.data import bundled_mnist, bundled_tensors, load_images, require_images
from engine.errors import UserError
from engine.score_model import ImageSpec

MNIST = ImageSpec(channels=1, size=28, background="black")


def test_bundled_subset_is_balanced():
    images, labels = bundled_mnist()
    assert images.shape == (5000, 28, 28)
    assert images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    sevens, seven_labels = bundled_tensors(classes=[7])
    assert sevens.shape == (500, 1, 28, 28)
    assert set(seven_labels.tolist()) == {7}
    assert sevens.min() >= -1
    assert sevens.max() <= 1


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp", ".tiff"])
def test_formats_read_and_resized(tmp_path, suffix):
    picture = Image.new("RGB", (90, 60), "black")
    picture.paste((255, 255, 255), (40, 20, 50, 40))
    picture.save(tmp_path / f"digit{suffix}")
    loaded = load_images([tmp_path], MNIST)
    assert loaded.images.shape == (1, 1, 28, 28)
    assert loaded.failures == []
    center = loaded.images[0, 0, 14, 14].item()
    assert center > 0.5
    assert loaded.images[0, 0, 0, 0].item() == pytest.approx(-1.0)


def test_dark_on_light_is_inverted(tmp_path):
    picture = Image.new("L", (28, 28), 255)
    picture.paste(0, (10, 10, 18, 18))
    picture.save(tmp_path / "paper.png")
    image = load_images([tmp_path / "paper.png"], MNIST).images[0, 0]
    assert image[14, 14] > 0.9
    assert image[0, 0] < -0.9


def test_transparent_background_becomes_black(tmp_path):
    picture = Image.new("RGBA", (28, 28), (255, 255, 255, 0))
    picture.paste((255, 255, 255, 255), (10, 10, 18, 18))
    picture.save(tmp_path / "alpha.png")
    image = load_images([tmp_path / "alpha.png"], MNIST).images[0, 0]
    assert image[14, 14] > 0.9
    assert image[0, 0] < -0.9


def test_rgb_model_gets_three_channels(tmp_path):
    Image.new("L", (40, 40), 128).save(tmp_path / "grey.png")
    images = load_images([tmp_path], ImageSpec(channels=3, size=32, background=None)).images
    assert images.shape == (1, 3, 32, 32)
    assert torch.allclose(images, torch.full_like(images, 128 / 127.5 - 1), atol=1e-6)


def test_unreadable_files_listed_rest_loaded(tmp_path):
    Image.new("L", (28, 28)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    nested = tmp_path / "sub" / "deeper"
    nested.mkdir(parents=True)
    Image.new("L", (28, 28)).save(nested / "also.bmp")
    loaded = load_images([tmp_path, tmp_path / "missing.png"], MNIST)
    assert len(loaded.images) == 2
    assert sorted(path.name for path, _ in loaded.failures) == ["bad.png", "missing.png"]


def test_no_readable_image_is_user_error(tmp_path):
    (tmp_path / "notes.txt").write_text("text")
    with pytest.raises(UserError, match="forget set has no readable image"):
        require_images([tmp_path], MNIST, "forget")
