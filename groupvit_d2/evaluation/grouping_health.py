"""Grouping figures and group naming on an evaluation split (see
groupvit_d2/modeling/groupvit/grouping_health.py for what the figures mean)."""
import logging
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.data.detection_utils import read_image
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from ..modeling.groupvit.grouping_health import (
    collapse_reason, grouping_health, object_group_named, patch_majority, undecided_note,
)
from ..modeling.groupvit.zero_shot import group_class_affinity
from ..modeling.core import window_grid

__all__ = ["GroupingHealthEvaluator"]

logger = logging.getLogger(__name__)


class GroupingHealthEvaluator(DatasetEvaluator):
    """Grouping figures and group naming on an evaluation split.

    Every image is cut into the sliding windows of the zero-shot segmentation (or taken whole when
    the window is off); each window is encoded, and
    - the grouping figures of `grouping_health` are averaged over windows;
    - "naming/best_score" is the mean over windows of the best group-class affinity (the value the
      official background rule compares with the threshold), "naming/clears_background" the share
      of windows whose best score reaches the dataset's background threshold, and
      "naming/best_group_is_object" the share of windows whose best-scored group takes a class the
      image's label map contains (background excluded), among windows whose label holds an object;
      "naming/object_group_named" the share of (window, object class) pairs whose object's group,
      the one holding most of its patches, takes that class as its best (the figure that followed
      the mIoU most closely, docs/RESULTS.md "Fourth round").
    Results: {"grouping_health": {...}}.
    """

    def __init__(self, dataset_name, model):
        self.dataset_name = dataset_name
        self.model = getattr(model, "module", model)

    def reset(self):
        self._sums = defaultdict(float)
        self._counts = defaultdict(int)

    def _add(self, key, value, count=1):
        self._sums[key] += float(value) * count
        self._counts[key] += count

    @torch.no_grad()
    def process(self, inputs, outputs):
        model = self.model
        for sample in inputs:
            class_emb, background_threshold = model.sample_class_embeddings(sample)
            image = model.normalize(sample["image"][None])
            height, width = image.shape[-2:]
            if getattr(model, "sliding_window", False):
                windows = window_grid(height, width, model.crop_size, model.stride)
            else:
                windows = [(0, height, 0, width)]
            p = model.backbone.patch_size
            crops = torch.cat([image[..., y1:y2, x1:x2] for y1, y2, x1, x2 in windows])
            h, w = crops.shape[-2:]
            out = model.encode_image(crops[..., : h - h % p, : w - w % p])
            for key, value in grouping_health(out["vision"]).items():
                self._add(key, value, len(windows))
            affinity = group_class_affinity(out["group_embeds"].float(), out["image_embeds"].float(),
                                            class_emb, model.scale(), model.topk)
            best = affinity.flatten(1).amax(dim=1)  # (n,)
            self._add("naming/best_score", float(best.mean()), len(windows))
            if background_threshold is not None:
                clears = float((best >= background_threshold).float().mean())
                self._add("naming/clears_background", clears, len(windows))
            label = self._label(sample, (height, width))
            if label is None:
                continue
            offset = 1 if background_threshold is not None else 0
            best_class = affinity.flatten(1).argmax(dim=1) % affinity.shape[-1] + offset
            # The label map is at the evaluation size; windows are cut from the same resized image.
            patch_group = out["vision"].patch_to_group().argmax(-1).cpu()  # (n, N)
            group_class = affinity.argmax(dim=-1).cpu() + offset  # (n, G)
            skip = (255, 0) if offset else (255,)
            for i, (y1, y2, x1, x2) in enumerate(windows):
                window_label = label[y1:y2, x1:x2]
                ids = torch.unique(window_label)
                objects = [int(c) for c in ids if int(c) >= offset and int(c) != 255]
                if not objects:
                    continue
                self._add("naming/best_group_is_object", float(int(best_class[i]) in objects))
                patch_class = patch_majority(window_label[: h - h % p, : w - w % p], p).flatten()
                for hit in object_group_named(patch_group[i], patch_class, group_class[i], skip):
                    self._add("naming/object_group_named", float(hit))

    @staticmethod
    def _label(sample, size):
        """The sample's label map at the evaluation size (nearest), or None without one."""
        if "sem_seg" in sample:
            label = torch.as_tensor(sample["sem_seg"])
        elif sample.get("sem_seg_file_name"):
            label = torch.from_numpy(np.asarray(read_image(sample["sem_seg_file_name"])).astype(np.int64))
        else:
            return None
        if tuple(label.shape[-2:]) != tuple(size):
            label = F.interpolate(label[None, None].float(), size=tuple(size), mode="nearest")[0, 0].long()
        return label

    def evaluate(self):
        sums = comm.gather(dict(self._sums), dst=0)
        counts = comm.gather(dict(self._counts), dst=0)
        if not comm.is_main_process():
            return {}
        total, n = defaultdict(float), defaultdict(int)
        for s, c in zip(sums, counts):
            for k in s:
                total[k] += s[k]
                n[k] += c[k]
        results = {k: total[k] / n[k] for k in sorted(total) if n[k]}
        for k in [k for k in results if k.startswith("naming/") and k != "naming/best_score"]:
            results[k] *= 100.0
        reason = collapse_reason(results)
        note = undecided_note(results)
        if reason is not None:
            logger.warning("%s: the grouping has collapsed (%s)", self.dataset_name, reason)
        elif note is not None:
            logger.info("%s: %s", self.dataset_name, note)
        logger.info(
            "Grouping health on %s:\n%s", self.dataset_name,
            "\n".join(f"  {k:32s} {v:.4f}" for k, v in results.items()),
        )
        return {"grouping_health": results}
