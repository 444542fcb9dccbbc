"""tools/convert_checkpoint.py: official/HF -> groupvit_d2, and any -> a Hugging Face folder."""
import importlib.util
import os

import pytest
import torch

from groupvit_d2.checkpoint import GroupViTCheckpointer, ours_to_official, save_hf_folder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "configs", "groupvit", "tiny.yaml")


@pytest.fixture(scope="module")
def cli():
    path = os.path.join(ROOT, "tools", "convert_checkpoint.py")
    spec = importlib.util.spec_from_file_location("convert_checkpoint", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_official_to_detectron2_then_to_hugging_face(cli, tiny_model, tmp_path, capsys):
    official, _ = ours_to_official(tiny_model.state_dict())
    torch.save({"model": official, "epoch": 30}, str(tmp_path / "release.pth"))

    out = str(tmp_path / "d2" / "converted.pth")
    assert cli.main([str(tmp_path / "release.pth"), out, "--config-file", TINY]) == 0
    printed = capsys.readouterr().out
    assert "official format" in printed and "Missing from the checkpoint (left at initialisation): 0" in printed
    converted = torch.load(out, weights_only=True)
    assert set(converted) == {"model", "__author__", "matching_heuristics"}
    assert torch.equal(converted["model"]["backbone.pos_embed"], tiny_model.backbone.pos_embed.detach())

    hf_dir = str(tmp_path / "hf")
    assert cli.main([out, hf_dir, "--to", "huggingface", "--config-file", TINY]) == 0
    assert sorted(os.listdir(hf_dir)) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    transformers = pytest.importorskip("transformers")
    hf = transformers.GroupViTModel.from_pretrained(hf_dir).eval()
    assert torch.equal(hf.vision_model.embeddings.position_embeddings.detach(), tiny_model.backbone.pos_embed.detach())


def test_hugging_face_folder_prints_its_architecture(cli, tiny_model, tiny_cfg, tmp_path, capsys):
    save_hf_folder(tiny_model.state_dict(), tiny_cfg, str(tmp_path / "hf"))
    out = str(tmp_path / "from_hf.pth")
    assert cli.main([str(tmp_path / "hf"), out]) == 0
    printed = capsys.readouterr().out
    assert "huggingface format" in printed
    assert 'MODEL.GROUPVIT.DEPTHS "[2, 1, 1]"' in printed and "MODEL.GROUPVIT.EMBED_DIM 96" in printed
    model = cli.build_model(cli.build_cfg(TINY, []))
    checkpointer = GroupViTCheckpointer(model, strict=True)
    checkpointer.load(out)
    assert checkpointer.last_report.format == "detectron2"
