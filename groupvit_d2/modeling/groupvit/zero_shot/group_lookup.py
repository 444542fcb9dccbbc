"""Zero-shot class maps as lookups of per-group rows, so that a large vocabulary costs its output
and little more.

Every pixel of a window takes exactly one group (the argmax of the upsampled soft map), so the
window's class scores at a pixel are its group's row of the group-to-class table (with the
background decided per group too). The sum over overlapping windows is then a function of which
group each covering window gave the pixel: a "code" per pixel indexes a small table of summed
rows. Only the final upsampled probabilities, the output, are materialised at C x H x W.

The numbers are those of pixel_class_scores + sliding_window_inference + finalize_logits: the
window sums are the same floating-point additions in the same order; the final bilinear upsample
and softmax agree to rounding (pixels whose four source pixels share a code take the softmax of
that code's row).
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from ...core.sliding_window import IntPair, window_grid

__all__ = [
    "group_class_table",
    "lookup_group_scores",
    "GroupCanvas",
    "sliding_window_group_inference",
    "finalize_group_canvas",
]

# Elements of (pixels x classes) worked on at once in the final upsample's boundary pixels.
_CHUNK_ELEMENTS = 1 << 22
# Codes kept before unused ones are dropped.
_COMPACT_AT = 4096


def _unique_small(values: torch.Tensor, bound: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """torch.unique(values, return_inverse=True) for non-negative values below `bound`: a presence
    table instead of a sort where the table is not much larger than `values` (the sort took an
    eighth of a 448 x 597 inference)."""
    if bound > 4 * values.numel() + 4096:
        return torch.unique(values, return_inverse=True)
    flat = values.reshape(-1)
    present = torch.zeros(bound, dtype=torch.bool, device=values.device)
    present[flat] = True
    unique = present.nonzero().squeeze(1)
    rank = torch.empty(bound, dtype=torch.int64, device=values.device)
    rank[unique] = torch.arange(unique.numel(), device=values.device)
    return unique, rank[flat].view_as(values)


def group_class_table(affinity: torch.Tensor, background_threshold: Optional[float]) -> torch.Tensor:
    """Each group's class scores: what pixel_class_scores gives every pixel of that group.

    Args:
        affinity: (B, G, C) group-to-class affinity (see group_class_affinity).
        background_threshold: None, or the threshold of the background rule (a group is background
            where its best class is below min(threshold, the image's largest affinity)).

    Returns:
        (B, G, C), or (B, G, C + 1) with the background (1 or 0) as column 0.
    """
    if affinity.dim() != 3:
        raise ValueError(f"group_class_table: affinity must have shape (B, G, C), got {tuple(affinity.shape)}")
    if background_threshold is None:
        return affinity
    threshold = float(background_threshold)
    if not torch.isfinite(torch.tensor(threshold)):
        raise ValueError(f"group_class_table: background_threshold must be finite, got {background_threshold}")
    per_image = affinity.flatten(1).amax(dim=1).clamp(max=threshold)
    background = affinity.amax(dim=2, keepdim=True) < per_image.view(-1, 1, 1)
    return torch.cat([background.to(affinity.dtype), affinity], dim=2)


def lookup_group_scores(ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Dense per-pixel scores of a group map: table[b, ids[b, y, x]].

    Args:
        ids: (B, H, W) group index of each pixel.
        table: (B, G, C) per-group scores (see group_class_table).

    Returns:
        (B, C, H, W), equal to pixel_class_scores of the one-hot of `ids`.
    """
    if ids.dim() != 3 or table.dim() != 3 or ids.shape[0] != table.shape[0]:
        raise ValueError(f"lookup_group_scores: expected ids (B, H, W) and table (B, G, C), got "
                         f"{tuple(ids.shape)} and {tuple(table.shape)}")
    batch, height, width = ids.shape
    index = ids.reshape(batch, height * width, 1).expand(-1, -1, table.shape[-1])
    return torch.gather(table, 1, index).transpose(1, 2).reshape(batch, table.shape[-1], height, width)


class GroupCanvas:
    """The window-summed scores of one image, as a per-pixel code into a table of summed rows.

    codes: (H, W) int64; table: (K, C) sums of the covering windows' group rows, added in window
    order; counts: (K,) how many windows cover the pixels of each code. Code 0 is "no window yet".
    """

    def __init__(self, height: int, width: int, device=None):
        self.codes = torch.zeros((int(height), int(width)), dtype=torch.int64, device=device)
        self.table = None
        self.counts = torch.zeros(1, dtype=torch.int64, device=device)

    def add(self, window: Tuple[int, int, int, int], ids: torch.Tensor, rows: torch.Tensor) -> None:
        """Add a window's scores: pixel (y, x) of the window gets rows[ids[y - y1, x - x1]].

        Args:
            window: (y1, y2, x1, x2) half-open pixel ranges.
            ids: (y2 - y1, x2 - x1) group index of each pixel.
            rows: (G, C) the window's per-group scores.
        """
        y1, y2, x1, x2 = window
        if ids.shape != (y2 - y1, x2 - x1) or rows.dim() != 2:
            raise ValueError(f"GroupCanvas.add: window {window} needs ids of shape {(y2 - y1, x2 - x1)} and "
                             f"rows (G, C); got {tuple(ids.shape)} and {tuple(rows.shape)}")
        if self.table is None:
            dtype = torch.promote_types(rows.dtype, torch.float32)
            self.table = rows.new_zeros((1, rows.shape[1]), dtype=dtype)
        elif rows.shape[1] != self.table.shape[1]:
            raise ValueError(f"GroupCanvas.add: window {window} has {rows.shape[1]} classes, earlier windows "
                             f"{self.table.shape[1]}")
        num_groups = rows.shape[0]
        if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < num_groups):
            raise ValueError(f"GroupCanvas.add: window {window} has group ids in [{int(ids.min())}, "
                             f"{int(ids.max())}] but {num_groups} rows")
        region = self.codes[y1:y2, x1:x2]
        pairs, inverse = _unique_small(region * num_groups + ids.to(region.device), self.table.shape[0] * num_groups)
        old, group = pairs // num_groups, pairs % num_groups
        first_new = self.table.shape[0]
        self.table = torch.cat([self.table, self.table[old] + rows.to(self.table)[group]])
        self.counts = torch.cat([self.counts, self.counts[old] + 1])
        self.codes[y1:y2, x1:x2] = inverse + first_new
        if self.table.shape[0] > _COMPACT_AT:
            self._compact()

    def _compact(self) -> None:
        used, inverse = _unique_small(self.codes, self.table.shape[0])
        self.codes = inverse.view_as(self.codes)
        self.table = self.table[used]
        self.counts = self.counts[used]

    def averaged(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(codes (H, W), table (K, C)): the window average of every pixel is table[codes]."""
        if self.table is None or bool((self.counts[self.codes] == 0).any()):
            raise ValueError("GroupCanvas: some pixels are covered by no window")
        self._compact()
        return self.codes, self.table / self.counts.unsqueeze(1).to(self.table.dtype)


def sliding_window_group_inference(
    image: torch.Tensor,
    crop_size: IntPair,
    stride: IntPair,
    predict_fn: Callable[[torch.Tensor], Tuple[torch.Tensor, Sequence[torch.Tensor]]],
    max_windows_per_batch: int = 16,
) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """sliding_window_inference for predictions that are one group a pixel.

    Args:
        image: (B, 3, H, W) image batch (same-size images).
        crop_size, stride: int or (h, w) pair, as in mmseg's test_cfg.
        predict_fn: (n, 3, h, w) crops -> (ids (n, h, w) group index of each pixel, n tables
            (G_i, C) of per-group scores); crops of a call must be treated independently.
        max_windows_per_batch: largest n passed to predict_fn.

    Returns:
        B pairs (codes (H, W), table (K, C)): the window-averaged scores are table[codes] (see
        finalize_group_canvas).
    """
    if image.dim() != 4:
        raise ValueError(f"sliding_window_group_inference: image must have shape (B, 3, H, W), got "
                         f"{tuple(image.shape)}")
    if int(max_windows_per_batch) < 1:
        raise ValueError(f"sliding_window_group_inference: max_windows_per_batch must be >= 1, got "
                         f"{max_windows_per_batch}")
    batch, _, height, width = image.shape
    windows = window_grid(height, width, crop_size, stride)
    canvases = [GroupCanvas(height, width, image.device) for _ in range(batch)]
    # Window-major order, as sliding_window_inference: every image sums its windows in grid order.
    jobs = [(index, window) for window in windows for index in range(batch)]
    for start in range(0, len(jobs), int(max_windows_per_batch)):
        chunk = jobs[start : start + int(max_windows_per_batch)]
        crops = torch.cat([image[i : i + 1, :, y1:y2, x1:x2] for i, (y1, y2, x1, x2) in chunk])
        ids, tables = predict_fn(crops)
        if ids.shape != (crops.shape[0], *crops.shape[2:]) or len(tables) != crops.shape[0]:
            raise ValueError(f"sliding_window_group_inference: predict_fn returned ids {tuple(ids.shape)} and "
                             f"{len(tables)} tables for crops {tuple(crops.shape)}; expected "
                             f"({crops.shape[0]}, {crops.shape[2]}, {crops.shape[3]}) and {crops.shape[0]}")
        for (i, window), window_ids, rows in zip(chunk, ids, tables):
            canvases[i].add(window, window_ids, rows)
    return [canvas.averaged() for canvas in canvases]


def _source_index(out_len: int, in_len: int, device):
    # PyTorch's bilinear source coordinates with align_corners=False and no scale factor.
    scale = in_len / out_len
    src = ((torch.arange(out_len, device=device, dtype=torch.float32) + 0.5) * scale - 0.5).clamp(min=0)
    low = src.to(torch.int64).clamp(max=in_len - 1)
    high = torch.where(low < in_len - 1, low + 1, low)
    frac = src - low.to(src.dtype)
    return low, high, 1 - frac, frac


def finalize_group_canvas(codes: torch.Tensor, table: torch.Tensor, out_size: Tuple[int, int]) -> torch.Tensor:
    """finalize_logits of the canvas table[codes]: bilinear upsample to out_size, softmax over classes.

    Args:
        codes: (H, W) int64 code of each pixel.
        table: (K, C) averaged scores of each code.
        out_size: (H0, W0).

    Returns:
        (C, H0, W0) class probabilities (at least float32), the only C x H0 x W0 tensor made.
    """
    if codes.dim() != 2 or table.dim() != 2:
        raise ValueError(f"finalize_group_canvas: expected codes (H, W) and table (K, C), got "
                         f"{tuple(codes.shape)} and {tuple(table.shape)}")
    table = table.to(torch.promote_types(table.dtype, torch.float32))
    out_h, out_w = (int(v) for v in out_size)
    num_classes = table.shape[1]
    y0, y1, ly0, ly1 = _source_index(out_h, codes.shape[0], codes.device)
    x0, x1, lx0, lx1 = _source_index(out_w, codes.shape[1], codes.device)
    rows0, rows1 = codes[y0], codes[y1]
    c00, c01, c10, c11 = rows0[:, x0], rows0[:, x1], rows1[:, x0], rows1[:, x1]

    # Pixels whose sources of non-zero weight share a code interpolate a constant: that code's
    # softmax row (exactly PyTorch's value where the other weights are 0, as when sizes match).
    down, right = (ly1 > 0).view(-1, 1), (lx1 > 0).view(1, -1)
    mixed = ((right & (c00 != c01)) | (down & (c00 != c10)) | (down & right & (c00 != c11)))
    mixed = mixed.reshape(-1).nonzero().squeeze(1)
    # The mixed pixels get rows of their own after the codes' rows, so that one gather in the
    # output's (C, pixels) order writes every pixel (a scatter of the mixed pixels across C rows of
    # the output is several times slower).
    num_codes = table.shape[0]
    rows_t = table.new_empty((num_classes, num_codes + mixed.numel()))
    rows_t[:, :num_codes] = table.softmax(dim=1).t()
    wy0 = ly0.view(-1, 1).expand(out_h, out_w).reshape(-1)
    wy1 = ly1.view(-1, 1).expand(out_h, out_w).reshape(-1)
    wx0 = lx0.view(1, -1).expand(out_h, out_w).reshape(-1)
    wx1 = lx1.view(1, -1).expand(out_h, out_w).reshape(-1)
    flat = [c.reshape(-1) for c in (c00, c01, c10, c11)]
    step = max(1, _CHUNK_ELEMENTS // max(num_classes, 1))
    for start in range(0, mixed.numel(), step):
        index = mixed[start : start + step]
        v00, v01, v10, v11 = (table[c[index]] for c in flat)
        a0, a1 = wx0[index].unsqueeze(1), wx1[index].unsqueeze(1)
        # The order of PyTorch's CPU kernel: h0 * (w0 * v00 + w1 * v01) + h1 * (w0 * v10 + w1 * v11).
        logits = wy0[index].unsqueeze(1) * (a0 * v00 + a1 * v01) + wy1[index].unsqueeze(1) * (a0 * v10 + a1 * v11)
        rows_t[:, num_codes + start : num_codes + start + index.numel()] = logits.softmax(dim=1).t()
    source = flat[0].clone()
    source[mixed] = torch.arange(num_codes, num_codes + mixed.numel(), device=source.device)
    out = rows_t.index_select(1, source)
    return out.view(num_classes, out_h, out_w)
