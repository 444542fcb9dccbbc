"""ONNX export of the zero-shot segmentation (tools/export_onnx.py) and its numpy/onnxruntime runner,
against the PyTorch path (GroupViTPredictor) on the tiny architecture."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from groupvit_d2.export import export_onnx  # noqa: E402
from groupvit_d2.predictor import GroupViTPredictor  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCABULARIES = {
    # Fewer classes than TOPK (5): the exported top-k must shrink to the vocabulary.
    "small": "cat; dog, puppy; grass",
    "large": "cat; dog; grass; sky; road; tree; car, cars; house",
}


def _load_runtime(folder):
    spec = importlib.util.spec_from_file_location("_exported_onnx_runtime", os.path.join(folder, "onnx_runtime.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from detectron2.config import get_cfg

    from groupvit_d2 import add_groupvit_config

    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(ROOT, "configs", "groupvit", "tiny.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES = "subset"
    torch.manual_seed(0)
    predictor = GroupViTPredictor(cfg, input_format="RGB")
    folder = str(tmp_path_factory.mktemp("onnx"))
    meta = export_onnx(predictor.model, cfg, folder, background_threshold=0.5)
    runtime = _load_runtime(folder).GroupViTOnnx(folder, threads=1)
    return predictor, meta, runtime, folder


def _image(height, width, seed):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_export_writes_the_models_and_says_which_axes_are_dynamic(exported):
    _, meta, _, folder = exported
    assert sorted(os.listdir(folder)) == sorted(
        ["segmentation.onnx", "image_embedding.onnx", "text_encoder.onnx", "groupvit_onnx.json", "onnx_runtime.py",
         "slide_grid.py"])
    with open(os.path.join(folder, "groupvit_onnx.json")) as f:
        assert json.load(f) == meta
    assert meta["window"] == [64, 64] and meta["stride"] == [32, 32] and meta["topk"] == 5
    # Checked against PyTorch at a second size: windows, classes and texts are dynamic; the window
    # size and the text length are fixed.
    assert meta["axes"]["segmentation"] == {"window": ["dynamic", 3, 64, 64], "class_embeddings": ["dynamic", 64]}
    assert meta["axes"]["image"] == {"window": ["dynamic", 3, 64, 64]}
    assert meta["axes"]["text"] == {"tokens": ["dynamic", 32]}


@pytest.mark.parametrize("vocabulary", sorted(VOCABULARIES))
@pytest.mark.parametrize("size", [(448, 448), (75, 131)])
@pytest.mark.parametrize("background", [True, False])
def test_segmentation_matches_pytorch(exported, vocabulary, size, background):
    predictor, _, runtime, _ = exported
    image = _image(*size, seed=size[1])
    want = predictor(image, VOCABULARIES[vocabulary], background_threshold=0.5 if background else None)["sem_seg"]
    class_emb, _ = predictor.model.class_embeddings(class_names=want_names(vocabulary))
    got = runtime.segment(image, class_emb.numpy(), background=background)
    want = want.numpy()
    assert got["probs"].shape == want.shape == ((1 if background else 0) + len(want_names(vocabulary)), *size)
    assert np.abs(got["probs"] - want).max() < 1e-4
    top2 = np.sort(want, axis=0)[-2:]
    decided = top2[1] - top2[0] > 1e-4
    assert decided.mean() > 0.5
    assert np.array_equal(got["labels"][decided], want.argmax(0)[decided])


def want_names(vocabulary):
    from groupvit_d2.data.text import parse_vocabulary

    return parse_vocabulary(VOCABULARIES[vocabulary])


def test_window_scores_embeddings_and_resize_match_pytorch(exported):
    predictor, meta, runtime, _ = exported
    model = predictor.model
    class_emb, _ = model.class_embeddings(class_names=want_names("large"))
    windows = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model.segment_crops(windows, class_emb, 0.5)
        encoded = model.encode_image(windows)
    got = runtime.window_scores(windows.numpy(), class_emb.numpy())
    assert got.shape == want.shape
    # Each pixel takes its argmax group of the upsampled soft maps; where the top two groups tie
    # within float rounding (random weights tie often), either runtime may take either group.
    # Everywhere else the scores must match.
    from groupvit_d2.modeling.groupvit.zero_shot.assignment_maps import cumulative_group_maps, upsample_group_maps

    with torch.no_grad():
        vision = encoded["vision"]
        maps = upsample_group_maps(cumulative_group_maps(vision.soft_assignments)[-1], vision.grid, (64, 64))
    top2 = maps.topk(2, dim=1).values
    decided = (top2[:, 0] - top2[:, 1] > 1e-4).numpy()
    assert decided.mean() > 0.5
    np.testing.assert_allclose(got.transpose(0, 2, 3, 1)[decided], want.numpy().transpose(0, 2, 3, 1)[decided],
                               atol=1e-5)
    embeds = runtime.image_embeddings(windows.numpy())
    np.testing.assert_allclose(embeds["image_embeds"], encoded["image_embeds"].numpy(), atol=1e-5)
    np.testing.assert_allclose(embeds["group_embeds"], encoded["group_embeds"].numpy(), atol=1e-5)
    assert embeds["stage1_maps"].shape == (3, 16, 16) and embeds["stage2_maps"].shape == (3, 16, 4)

    # Class embeddings from token ids, as the PyTorch text classifier builds them.
    names = [["cat"], ["dog", "puppy"]]
    from groupvit_d2.data.text import get_templates

    templates = get_templates("subset")
    prompts = [t(n) if callable(t) else t.format(n) for names_ in names for n in names_ for t in templates]
    counts = [len(n) * len(templates) for n in names]
    got = runtime.class_embeddings(model.tokenizer(prompts).numpy(), counts)
    want, _ = model.class_embeddings(class_names=names)
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)

    # The numpy evaluation resize equals Detectron2's (float bilinear, rounded to uint8).
    image = _image(75, 131, seed=3)
    resized = runtime.preprocess(image) * runtime.std + runtime.mean
    torch_resized = predictor.preprocess(image).numpy().astype(np.float32)
    assert resized.shape == torch_resized.shape == (3, 64, 112)
    assert np.abs(resized - torch_resized).max() < 1e-3


def test_runner_imports_neither_torch_nor_detectron2(exported):
    _, _, _, folder = exported
    code = (
        "import sys, numpy as np\n"
        "for name in ('torch', 'detectron2', 'groupvit_d2'): sys.modules[name] = None\n"
        f"sys.path.insert(0, {folder!r})\n"
        "from onnx_runtime import GroupViTOnnx\n"
        f"m = GroupViTOnnx({folder!r}, threads=1)\n"
        "emb = np.eye(3, m.meta['embed_dim'], dtype=np.float32)\n"
        "img = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)\n"
        "out = m.segment(img, emb, background=True)\n"
        "print(out['probs'].shape, out['labels'].shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(4, 70, 90) (70, 90)"


def test_bad_inputs_are_clear_errors(exported, tmp_path, tiny_cfg):
    predictor, _, runtime, folder = exported
    module = _load_runtime(folder)
    with pytest.raises(FileNotFoundError, match="groupvit_onnx.json"):
        module.GroupViTOnnx(str(tmp_path))
    emb = np.eye(3, 64, dtype=np.float32)
    with pytest.raises(ValueError, match="smaller than the exported 64x64 window"):
        runtime.segment(_image(40, 40, 0), emb, resize=False)
    with pytest.raises(ValueError, match=r"class embeddings must have shape \(C, 64\)"):
        runtime.segment(_image(64, 64, 0), np.eye(3, 32, dtype=np.float32))
    with pytest.raises(ValueError, match=r"text tokens must have shape \(N, 32\)"):
        runtime.text_embeddings(np.zeros((2, 77), np.int64))
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.GROUPING = "kmeans"
    from detectron2.modeling import build_model

    with pytest.raises(ValueError, match="GROUPING 'kmeans'"):
        export_onnx(build_model(tiny_cfg).eval(), tiny_cfg, str(tmp_path / "out"))
    assert not [f for f in os.listdir(tmp_path / "out") if f.startswith(".tmp_")]


def test_export_tool(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("_export_onnx_tool", os.path.join(ROOT, "tools", "export_onnx.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    meta = tool.main(["--config-file", os.path.join(ROOT, "configs", "groupvit", "tiny.yaml"),
                      "--output", str(tmp_path), "--background-threshold", "0.8",
                      "MODEL.GROUPVIT.ZERO_SHOT.TOPK", "3"])
    assert meta["background_threshold"] == 0.8 and meta["topk"] == 3
    out = capsys.readouterr().out
    assert "segmentation.onnx      class_embeddings  [\"dynamic\", 64]" in out
    assert os.path.isfile(tmp_path / "segmentation.onnx")
