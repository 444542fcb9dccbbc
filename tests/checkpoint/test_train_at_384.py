"""Thesis sec. 5.9: a 224 checkpoint fine-tuned at 384 (MODEL.GROUPVIT.IMAGE_SIZE 384)."""
import torch
import torch.nn.functional as F
from detectron2.modeling import build_model
from PIL import Image

from groupvit_d2.checkpoint import GroupViTCheckpointer, ours_to_official
from groupvit_d2.data.dataset_mappers.image_text_mapper import build_image_text_augmentation
from groupvit_d2.data.text import build_tokenizer


def test_224_release_loads_into_a_384_model_that_trains_at_384(tiny_cfg, tmp_path):
    cfg224 = tiny_cfg.clone()
    cfg224.MODEL.GROUPVIT.IMAGE_SIZE = 224
    torch.manual_seed(0)
    source = build_model(cfg224)
    official, _ = ours_to_official(source.state_dict())
    path = str(tmp_path / "release_224.pth")
    torch.save({"model": official}, path)

    cfg = tiny_cfg.clone()
    cfg.MODEL.GROUPVIT.IMAGE_SIZE = 384
    cfg.INPUT.IMAGE_TEXT.CROP_SIZE = 384
    cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    model = build_model(cfg)
    checkpointer = GroupViTCheckpointer(model, strict=True)
    checkpointer.load(path)

    width = cfg.MODEL.GROUPVIT.EMBED_DIM
    assert checkpointer.last_report.resized == [("backbone.pos_embed", (1, 196, width), (1, 576, width))]
    # Bicubic, align_corners False, on the 14 x 14 grid laid out row by row.
    grid = source.backbone.pos_embed.detach().reshape(1, 14, 14, width).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(24, 24), mode="bicubic", align_corners=False)
    assert torch.allclose(model.backbone.pos_embed.detach(), expected.permute(0, 2, 3, 1).reshape(1, 576, width),
                          atol=1e-6)
    # Every other tensor is loaded as it is.
    assert torch.equal(model.backbone.layers[1].downsample.assign.q_proj.weight,
                       source.backbone.layers[1].downsample.assign.q_proj.weight)

    # The training crops are 384 and the model trains on them with the 24 x 24 grid as is.
    augment = build_image_text_augmentation(cfg, is_train=True)
    tok = build_tokenizer(cfg.MODEL.GROUPVIT.TEXT.CONTEXT_LENGTH)
    batch = [{"image": augment(Image.new("RGB", (500, 420), (40 * i, 90, 160))),
              "text": tok([f"a blue picture {i}", "a photo of a picture."])} for i in range(2)]
    assert batch[0]["image"].shape == (3, 384, 384)
    grids = []
    encode = model.backbone.encode
    model.backbone.encode = lambda x: grids.append(encode(x)) or grids[-1]
    model.train()
    losses = model(batch)
    assert grids[0].grid == (24, 24) and grids[0].stage_tokens[0].shape[1] == 576
    sum(losses.values()).backward()
    assert model.backbone.pos_embed.grad.shape == (1, 576, width)
