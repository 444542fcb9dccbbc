"""Zero-shot GroupViT segmentation with the exported ONNX models, numpy and onnxruntime only.

This file imports neither PyTorch nor Detectron2 nor the rest of groupvit_d2 (only the plain-Python
window grid, slide_grid.py): tools/export_onnx.py copies both next to the models, so a deployment
needs that folder, numpy and onnxruntime.

    from onnx_runtime import GroupViTOnnx
    model = GroupViTOnnx("exported/")
    classes = model.class_embeddings(token_ids, prompts_per_class)   # or your cached (C, D) array
    out = model.segment(rgb_uint8_image, classes, background=True)
    out["labels"]  # (H, W): 0 background, 1..C the classes

It reproduces the PyTorch path (GroupViTPredictor): the shortest-edge resize, the normalisation,
mmseg's sliding window averaged over overlaps, the bilinear upsample to the input size and the
softmax over classes. The per-window rule (soft group maps, argmax group, the image's top-k
classes, the background threshold) is inside segmentation.onnx.
"""
import importlib.util
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnxruntime as ort

try:  # inside groupvit_d2
    from ..modeling.core.slide_grid import slide_windows as _slide_windows
except ImportError:  # an exported folder, where slide_grid.py lies next to this file
    _spec = importlib.util.spec_from_file_location(
        "groupvit_slide_grid", os.path.join(os.path.dirname(os.path.abspath(__file__)), "slide_grid.py"))
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    _slide_windows = _module.slide_windows

__all__ = ["META_FILE", "GroupViTOnnx", "window_grid", "resize_bilinear", "shortest_edge_size", "softmax"]

META_FILE = "groupvit_onnx.json"


def window_grid(height: int, width: int, crop: Tuple[int, int],
                stride: Tuple[int, int]) -> List[Tuple[int, int, int, int]]:
    """mmseg's slide windows (y1, y2, x1, x2), row by row (see slide_grid.py)."""
    return _slide_windows(height, width, crop, stride)


def _linear_taps(in_size: int, out_size: int):
    # PyTorch's bilinear source index with align_corners=False: (i + 0.5) * in / out - 0.5, clamped at 0.
    scale = np.float32(in_size / out_size)
    src = np.maximum((np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5), 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    l1 = (src - i0).astype(np.float32)
    return i0, i1, np.float32(1) - l1, l1


def resize_bilinear(x: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Bilinear resize of the last two axes, as torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False) without antialiasing: (..., H, W) float32 -> (..., size[0], size[1])."""
    x = np.asarray(x, dtype=np.float32)
    height, width = x.shape[-2:]
    out_h, out_w = int(size[0]), int(size[1])
    if (height, width) == (out_h, out_w):
        return x.copy()
    i0, i1, l0, l1 = _linear_taps(width, out_w)
    x = x[..., i0] * l0 + x[..., i1] * l1
    i0, i1, l0, l1 = _linear_taps(height, out_h)
    return x[..., i0, :] * l0[:, None] + x[..., i1, :] * l1[:, None]


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def shortest_edge_size(height: int, width: int, short_edge: int, max_size: int) -> Tuple[int, int]:
    """Detectron2's ResizeShortestEdge output size (the evaluation resize)."""
    size = float(short_edge)
    scale = size / min(height, width)
    new_h, new_w = (size, scale * width) if height < width else (scale * height, size)
    if max(new_h, new_w) > max_size:
        scale = max_size / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


class GroupViTOnnx:
    """The three exported models of one checkpoint and the metadata the export wrote.

    Attributes:
        meta: the export's groupvit_onnx.json (window, stride, normalisation, top-k, background
            threshold, which axes are dynamic).
    """

    def __init__(self, folder: str, threads: Optional[int] = None, providers: Optional[Sequence[str]] = None):
        path = os.path.join(folder, META_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such file; expected the folder tools/export_onnx.py wrote")
        with open(path, encoding="utf-8") as f:
            self.meta = json.load(f)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        providers = list(providers or ["CPUExecutionProvider"])
        self.sessions = {}
        for name, file in self.meta["files"].items():
            model_path = os.path.join(folder, file)
            if not os.path.isfile(model_path):
                raise FileNotFoundError(f"{model_path}: no such file (listed in {path})")
            self.sessions[name] = ort.InferenceSession(model_path, options, providers=providers)
        self.crop = tuple(self.meta["window"])
        self.stride = tuple(self.meta["stride"])
        self.mean = np.asarray(self.meta["pixel_mean"], np.float32).reshape(3, 1, 1)
        self.std = np.asarray(self.meta["pixel_std"], np.float32).reshape(3, 1, 1)

    def _dynamic(self, model: str, tensor: str, axis: int) -> bool:
        return self.meta["axes"][model][tensor][axis] == "dynamic"

    # ---------------------------------------------------------------------------------------------
    # Text
    # ---------------------------------------------------------------------------------------------
    def text_embeddings(self, tokens: np.ndarray) -> np.ndarray:
        """(N, L) int64 CLIP BPE ids (L = the context length, zero padded) -> (N, D) projected,
        un-normalised text embeddings."""
        tokens = np.asarray(tokens, dtype=np.int64)
        length = self.meta["context_length"]
        if tokens.ndim != 2 or tokens.shape[1] != length:
            raise ValueError(f"text tokens must have shape (N, {length}), got {tokens.shape}")
        return self.sessions["text"].run(None, {"tokens": tokens})[0]

    def class_embeddings(self, tokens: np.ndarray, prompts_per_class: Sequence[int]) -> np.ndarray:
        """(C, D) class embeddings: the mean of each class's consecutive prompt embeddings (all its
        synonyms times all templates), L2-normalised, as the PyTorch text classifier builds them."""
        counts = [int(c) for c in prompts_per_class]
        if not counts or min(counts) < 1 or sum(counts) != len(tokens):
            raise ValueError(
                f"prompts_per_class {counts} must be positive counts summing to the {len(tokens)} token rows")
        embeds = self.text_embeddings(tokens)
        starts = np.cumsum([0] + counts[:-1])
        means = np.stack([embeds[s : s + c].sum(axis=0) / np.float32(c) for s, c in zip(starts, counts)])
        return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), np.float32(1e-12))

    # ---------------------------------------------------------------------------------------------
    # Image
    # ---------------------------------------------------------------------------------------------
    def preprocess(self, image: np.ndarray, resize: bool = True) -> np.ndarray:
        """(H, W, 3) uint8 RGB (or (H, W) grey) -> (3, h, w) normalised float32 model input,
        resized to the evaluation size unless `resize` is False."""
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"expected an (H, W, 3) or (H, W) uint8 image, got shape {image.shape} and dtype {image.dtype}")
        if self.meta["input_format"] == "BGR":
            image = image[:, :, ::-1]
        chw = np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32)
        if resize:
            size = shortest_edge_size(*chw.shape[1:], self.meta["min_size_test"], self.meta["max_size_test"])
            chw = np.clip(np.rint(resize_bilinear(chw, size)), 0, 255)
        return (chw - self.mean) / self.std

    def image_embeddings(self, windows: np.ndarray) -> Dict[str, np.ndarray]:
        """(n, 3, h, w) normalised windows of the exported window size -> "image_embeds" (n, D),
        "group_embeds" (n, G, D) and "stage<l>_maps" (n, N, G_l) soft patch-to-group maps."""
        session = self.sessions["image"]
        outputs = session.run(None, {"window": np.ascontiguousarray(windows, dtype=np.float32)})
        return {o.name: v for o, v in zip(session.get_outputs(), outputs)}

    def window_scores(self, windows: np.ndarray, class_emb: np.ndarray) -> np.ndarray:
        """(n, 3, h, w) normalised windows, (C, D) class embeddings -> (n, 1 + C, h, w): channel 0
        is the background under the exported threshold, then the per-class scores."""
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        class_emb = np.ascontiguousarray(class_emb, dtype=np.float32)
        if class_emb.ndim != 2 or class_emb.shape[1] != self.meta["embed_dim"]:
            raise ValueError(f"class embeddings must have shape (C, {self.meta['embed_dim']}), got {class_emb.shape}")
        if tuple(windows.shape[2:]) != self.crop:
            raise ValueError(f"windows must be {self.crop[0]}x{self.crop[1]} (fixed at export), got {windows.shape}")
        session = self.sessions["segmentation"]
        if self._dynamic("segmentation", "window", 0):
            return session.run(None, {"window": windows, "class_embeddings": class_emb})[0]
        return np.concatenate([session.run(None, {"window": w[None], "class_embeddings": class_emb})[0]
                               for w in windows])

    def segment(self, image: np.ndarray, class_emb: np.ndarray, background: bool = False, resize: bool = True,
                max_windows: int = 8) -> Dict[str, np.ndarray]:
        """Zero-shot segmentation of one image.

        Args:
            image: (H, W, 3) uint8 RGB image (or (H, W) grey).
            class_emb: (C, D) L2-normalised class embeddings (see class_embeddings).
            background: predict a background class 0 where no class reaches the exported
                background threshold (meta["background_threshold"]).
            resize: apply the evaluation resize first; False when `image` is already resized (the
                output then has the image's size).
            max_windows: windows per onnxruntime call.

        Returns:
            "probs": (C', H, W) float32 class probabilities at the input size (C' = C + 1 with the
            background first); "labels": (H, W) int64 argmax.
        """
        height, width = np.asarray(image).shape[:2]
        x = self.preprocess(image, resize=resize)
        h, w = x.shape[1:]
        if h < self.crop[0] or w < self.crop[1]:
            raise ValueError(
                f"the resized image is {h}x{w}, smaller than the exported {self.crop[0]}x{self.crop[1]} window; "
                "the window size is fixed in segmentation.onnx (export again with a smaller "
                "TEST.SLIDING_WINDOW.CROP_SIZE)"
            )
        windows = window_grid(h, w, self.crop, self.stride)
        canvas = None
        count = np.zeros((h, w), np.float32)
        for start in range(0, len(windows), max(1, int(max_windows))):
            chunk = windows[start : start + max(1, int(max_windows))]
            scores = self.window_scores(np.stack([x[:, y1:y2, x1:x2] for y1, y2, x1, x2 in chunk]), class_emb)
            if canvas is None:
                canvas = np.zeros((scores.shape[1], h, w), np.float32)
            for (y1, y2, x1, x2), s in zip(chunk, scores):
                canvas[:, y1:y2, x1:x2] += s
                count[y1:y2, x1:x2] += 1
        logits = canvas / count
        if not background:
            logits = logits[1:]
        probs = softmax(resize_bilinear(logits, (height, width)), axis=0)
        return {"probs": probs, "labels": probs.argmax(axis=0)}
