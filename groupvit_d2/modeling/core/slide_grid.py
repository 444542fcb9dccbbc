"""mmseg's slide-inference windows, in plain Python: the PyTorch sliding window and the exported
ONNX runner (which copies this file next to itself, so it needs neither PyTorch nor groupvit_d2)
cut images the same way from this one definition."""
from typing import List, Tuple

__all__ = ["slide_windows"]


def slide_windows(height: int, width: int, crop: Tuple[int, int],
                  stride: Tuple[int, int]) -> List[Tuple[int, int, int, int]]:
    """The (y1, y2, x1, x2) windows, row by row, for positive (h, w) `crop` and `stride`: a window
    crossing the border is shifted back inside, and spans the whole dimension where the image is
    smaller than the crop."""
    h_crop, w_crop = crop
    h_stride, w_stride = stride
    h_grids = max(height - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(width - w_crop + w_stride - 1, 0) // w_stride + 1
    windows = []
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y2 = min(h_idx * h_stride + h_crop, height)
            x2 = min(w_idx * w_stride + w_crop, width)
            windows.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return windows
