import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.errors import UserError
from engine.score_model import ImageSpec, ScoreModel
from engine.sde import SDEConfig
from engine.unet import UNetConfig
from resources import BASE_MODEL


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(BASE_MODEL)


def test_round_trip_reproduces_outputs(bundled, tmp_path):
    path = save_checkpoint(bundled, tmp_path / "copy.safetensors")
    loaded = load_checkpoint(path)
    x = torch.randn(4, *bundled.shape, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.01, 0.2, 0.6, 1.0])
    with torch.no_grad():
        assert torch.equal(bundled.eps(x, t), loaded.eps(x, t))
    assert loaded.image == bundled.image
    assert loaded.sde_config == bundled.sde_config
    assert loaded.history == bundled.history


@pytest.mark.parametrize("kind,channels,size", [("vp", 1, 28), ("subvp", 3, 32), ("ve", 3, 32)])
def test_round_trip_other_shapes(tmp_path, kind, channels, size):
    model = ScoreModel.create(UNetConfig(image_size=size, channels=channels, base_channels=16, attention_resolutions=(8,)),
                              SDEConfig(kind=kind), ImageSpec(channels=channels, size=size, background=None))
    torch.nn.init.normal_(model.network.conv_out.weight)
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    loaded = load_checkpoint(path)
    x = torch.randn(2, channels, size, size)
    t = torch.tensor([0.1, 0.9])
    with torch.no_grad():
        assert torch.equal(model.eps(x, t), loaded.eps(x, t))
        assert model.eps(x, t).shape == x.shape


def test_missing_file_message(tmp_path):
    with pytest.raises(UserError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nothing.safetensors")


def test_text_file_rejected(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello, this is not a checkpoint")
    with pytest.raises(UserError, match="not a checkpoint"):
        load_checkpoint(path)


def test_pickle_file_never_unpickled(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(UserError, match="PyTorch .pth"):
        load_checkpoint(path)


def test_foreign_safetensors_rejected(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path))
    with pytest.raises(UserError, match="without MSGM Studio metadata"):
        load_checkpoint(path)


def test_truncated_file_rejected(bundled, tmp_path):
    path = save_checkpoint(bundled, tmp_path / "full.safetensors")
    data = path.read_bytes()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="damaged"):
        load_checkpoint(broken)


def test_mismatched_shapes_rejected(bundled, tmp_path):
    tensors = {key: value.clone() for key, value in bundled.network.state_dict().items()}
    tensors["conv_in.weight"] = torch.zeros(8, 1, 3, 3)
    header = {"network": bundled.unet_config.to_dict(), "sde": bundled.sde_config.to_dict(), "image": bundled.image.to_dict()}
    path = tmp_path / "wrong.safetensors"
    save_file(tensors, str(path), metadata={"msgm_studio": json.dumps(header)})
    with pytest.raises(UserError, match="conv_in.weight has shape"):
        load_checkpoint(path)


def test_failed_save_leaves_no_file(bundled, tmp_path):
    target = tmp_path / "missing-folder" / "m.safetensors"
    with pytest.raises(UserError, match="does not exist"):
        save_checkpoint(bundled, target)
    assert not target.parent.exists()


def test_save_over_existing_is_atomic(bundled, tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old")
    save_checkpoint(bundled, path)
    assert load_checkpoint(path).name == bundled.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    header_length = struct.unpack("<Q", path.read_bytes()[:8])[0]
    assert header_length > 0
