"""Sliding-window inference on mmseg's slide grid, and the final upsample + softmax (docs/DESIGN.md
section 3, steps 3 and 10)."""

import numbers
from typing import Callable, List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from .slide_grid import slide_windows

__all__ = ["window_grid", "sliding_window_inference", "finalize_logits"]

IntPair = Union[int, Sequence[int]]


def _pair(value: IntPair, name: str) -> Tuple[int, int]:
    try:
        pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
        valid = len(pair) == 2 and all(isinstance(v, numbers.Integral) and v >= 1 for v in pair)
    except TypeError:
        valid = False
    if not valid:
        raise ValueError(f"sliding window: {name} must be a positive int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def window_grid(height: int, width: int, crop: IntPair, stride: IntPair) -> List[Tuple[int, int, int, int]]:
    """The windows of mmseg's slide_inference, row by row.

    A window that would cross the border is shifted back inside the image; where the image is
    smaller than the crop in a dimension, the window spans that whole dimension.

    Args:
        height, width: image size.
        crop: (h_crop, w_crop) or one int for both.
        stride: (h_stride, w_stride) or one int for both.

    Returns:
        list of (y1, y2, x1, x2), half-open pixel ranges; all windows have the same size
        (min(h_crop, height), min(w_crop, width)).
    """
    crop, stride = _pair(crop, "crop size"), _pair(stride, "stride")
    if height < 1 or width < 1:
        raise ValueError(f"window_grid: image size must be positive, got {(height, width)}")
    return slide_windows(height, width, crop, stride)


def sliding_window_inference(
    image: torch.Tensor,
    crop_size: IntPair,
    stride: IntPair,
    predict_fn: Callable[[torch.Tensor], torch.Tensor],
    batch_windows: bool = True,
    max_windows_per_batch: int = 16,
) -> torch.Tensor:
    """Run predict_fn on every window and average the overlapping outputs.

    Outputs are summed on a canvas and divided by the number of windows covering each pixel.
    predict_fn must treat the crops of a batch independently (the model is in eval mode), so that
    batching does not change the result.

    Args:
        image: (B, 3, H, W) image batch.
        crop_size, stride: int or (h, w) pair, as in mmseg's test_cfg.
        predict_fn: (n, 3, h, w) crops -> (n, C, h, w) scores.
        batch_windows: stack the crops (windows of every image of the batch) into calls of at
            most max_windows_per_batch crops; False runs one crop a call.
        max_windows_per_batch: largest n passed to predict_fn when batch_windows is True.

    Returns:
        (B, C, H, W) averaged scores, in at least float32.
    """
    if image.dim() != 4:
        raise ValueError(
            f"sliding_window_inference: image must have shape (B, 3, H, W), got {tuple(image.shape)}"
        )
    if int(max_windows_per_batch) < 1:
        raise ValueError(
            f"sliding_window_inference: max_windows_per_batch must be >= 1, got {max_windows_per_batch}"
        )
    batch, _, height, width = image.shape
    windows = window_grid(height, width, crop_size, stride)
    crops_per_call = int(max_windows_per_batch) if batch_windows else 1
    # Window-major order, so every image accumulates its windows in the same order either way.
    jobs = [(index, window) for window in windows for index in range(batch)]

    count = torch.zeros((1, 1, height, width), device=image.device, dtype=torch.int64)
    for y1, y2, x1, x2 in windows:
        count[:, :, y1:y2, x1:x2] += 1
    if bool((count == 0).any()):
        raise ValueError(
            f"sliding_window_inference: crop {crop_size} with stride {stride} leaves pixels of a "
            f"{height}x{width} image uncovered; use a stride no larger than the crop"
        )

    canvas = None
    for start in range(0, len(jobs), crops_per_call):
        chunk = jobs[start : start + crops_per_call]
        crops = torch.cat([image[i : i + 1, :, y1:y2, x1:x2] for i, (y1, y2, x1, x2) in chunk], dim=0)
        outputs = predict_fn(crops)
        if outputs.dim() != 4 or outputs.shape[0] != crops.shape[0] or outputs.shape[2:] != crops.shape[2:]:
            raise ValueError(
                f"sliding_window_inference: predict_fn returned {tuple(outputs.shape)} for crops "
                f"{tuple(crops.shape)}; expected ({crops.shape[0]}, C, {crops.shape[2]}, {crops.shape[3]})"
            )
        if canvas is None:
            dtype = torch.promote_types(outputs.dtype, torch.float32)
            canvas = image.new_zeros((batch, outputs.shape[1], height, width), dtype=dtype)
        outputs = outputs.to(canvas.dtype)
        for (i, (y1, y2, x1, x2)), out in zip(chunk, outputs):
            canvas[i, :, y1:y2, x1:x2] += out
    return canvas / count.to(canvas.dtype)


def finalize_logits(summed: torch.Tensor, out_size: Tuple[int, int]) -> torch.Tensor:
    """Upsample the window-averaged scores to the original image and take a softmax over classes.

    Args:
        summed: (B, C, h, w) output of sliding_window_inference (or of one whole-image pass).
        out_size: (H0, W0) original image size.

    Returns:
        (B, C, H0, W0) class probabilities (in at least float32); the argmax is left to the caller.
    """
    if summed.dim() != 4:
        raise ValueError(f"finalize_logits: expected (B, C, h, w), got {tuple(summed.shape)}")
    logits = summed.to(torch.promote_types(summed.dtype, torch.float32))
    logits = F.interpolate(logits, size=tuple(int(v) for v in out_size), mode="bilinear", align_corners=False)
    return logits.softmax(dim=1)
