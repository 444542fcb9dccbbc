"""Group-assignment entropy maps: the values, the model path and the pictures."""
import math

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from matplotlib import colormaps
from PIL import Image

from groupvit_d2.evaluation import EntropyMapWriter, colorize_entropy, entropy_map, group_assignment_entropy



def test_entropy_of_known_assignments():
    # 2x2 grid, 4 groups: one-hot, uniform, half/half and a 3-way split.
    p2g = torch.tensor([[[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0], [0.5, 0.25, 0.25, 0]]])
    entropy = group_assignment_entropy(p2g, (2, 2), (2, 2))
    expected = [0.0, math.log(4), math.log(2), -(0.5 * math.log(0.5) + 0.5 * math.log(0.25))]
    assert entropy.shape == (1, 2, 2)
    assert torch.allclose(entropy.flatten(), torch.tensor(expected), atol=1e-6)


def test_upsampling_happens_before_the_entropy():
    # Two one-hot patches side by side: zero entropy at the patches' centres, log 2 between them.
    p2g = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    entropy = group_assignment_entropy(p2g, (1, 2), (1, 4))[0, 0]
    assert entropy[0] == pytest.approx(0.0, abs=1e-6) and entropy[3] == pytest.approx(0.0, abs=1e-6)
    # pixel 1 mixes the patches 3:1 (bilinear, align_corners=False)
    assert entropy[1] == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)), abs=1e-6)


def test_colorize_spans_zero_to_log_groups():
    picture = colorize_entropy(np.array([[0.0, math.log(8), 5.0]]), num_groups=8)
    cmap = colormaps["viridis"]
    assert picture.dtype == np.uint8 and picture.shape == (1, 3, 3)
    assert np.array_equal(picture[0, 0], np.round(np.array(cmap(0.0)[:3]) * 255).astype(np.uint8))
    assert np.array_equal(picture[0, 1], np.round(np.array(cmap(1.0)[:3]) * 255).astype(np.uint8))
    assert np.array_equal(picture[0, 2], picture[0, 1])  # clipped


@pytest.fixture(scope="module")
def tiny_groupvit():
    from detectron2.config import get_cfg

    from groupvit_d2 import add_groupvit_config
    from zero_shot_eval_utils import TINY_CONFIG

    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(str(TINY_CONFIG))
    cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(0)
    return build_model(cfg).eval()


def test_entropy_map_of_a_model_and_the_writer(tiny_groupvit, tmp_path):
    samples = [{"image": torch.randint(0, 256, (3, 40, 72), dtype=torch.uint8), "file_name": f"/x/img{i}.jpg"}
               for i in range(3)]
    entropy = entropy_map(tiny_groupvit, samples[0])
    groups = tiny_groupvit.backbone.num_groups
    assert entropy.shape == (40, 72)
    assert float(entropy.min()) >= 0 and float(entropy.max()) <= math.log(groups) + 1e-5
    assert float(entropy.std()) > 0

    writer = EntropyMapWriter(tiny_groupvit, str(tmp_path / "entropy"), max_images=2)
    writer.reset()
    writer.process(samples[:2], [None, None])
    writer.process(samples[2:], [None])
    assert sorted(p.name for p in (tmp_path / "entropy").iterdir()) == ["img0_entropy.png", "img1_entropy.png"]
    with Image.open(tmp_path / "entropy" / "img0_entropy.png") as im:
        assert im.size == (72, 40) and im.mode == "RGB"
        assert np.array_equal(np.asarray(im), colorize_entropy(entropy.numpy(), groups))
    assert writer.evaluate() == {}
