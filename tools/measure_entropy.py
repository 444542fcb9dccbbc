#!/usr/bin/env python
"""Measure what the thesis's training terms target, on a labelled segmentation split.

Each image is resized as the image-text validation transform does (short side S * 256 / 224, centre
crop S = INPUT.IMAGE_TEXT.CROP_SIZE), and its labels are the ground-truth classes present in that
crop (not background, not ignore), embedded as zero-shot classes are (mean over the prompt
templates, normalised). The model runs in eval mode. Reported, as means over images:

  group_entropy          GE: entropy of each patch over the final groups, mean over patches (eq. 39)
  label_entropy          LE: entropy of each patch over the image's labels (eq. 41-43)
  segment_entropy        SE: 0.2 x groups over labels + 0.1 x labels over groups (eq. 44-46)
  multi_label            the multi-label contrastive loss over batches of --batch-size images
  multi_label_non_noisy  the same with same-class labels of other images as positives

and, how well the model names what it sees (higher is better):

  image_naming           share of the images with an object whose best class (pooled image
                         embedding) is one of their objects
  group_naming           share of the objects whose group (the final group holding most of the
                         object's pixels, as the zero-shot segmentation assigns them) has the
                         object's class as its best class

  python tools/measure_entropy.py --config-file configs/thesis/synthetic/ge.yaml \
      --dataset synthetic_val MODEL.WEIGHTS output/thesis_synthetic/ge/model_final.pth
"""
import argparse
import json
import logging
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model
from detectron2.utils.logger import setup_logger

from groupvit_d2 import load_config
from groupvit_d2.checkpoint import GroupViTCheckpointer
from groupvit_d2.modeling.groupvit.losses import (
    group_entropy_loss,
    label_entropy_loss,
    multi_label_contrastive_loss,
    same_label_positives,
    segment_entropy_loss,
    segment_label_affinity,
)
from groupvit_d2.modeling.core import class_names_from_metadata
from groupvit_d2.modeling.groupvit.zero_shot import upsample_group_maps

logger = logging.getLogger("groupvit_d2.measure_entropy")

METRICS = ("group_entropy", "label_entropy", "segment_entropy", "multi_label", "multi_label_non_noisy",
           "image_naming", "group_naming")


def load_sample(record, crop_size, ignore_label, has_background, return_labels=False):
    """(uint8 image (3, S, S), sorted class ids present in the crop, as zero-shot class indices),
    and with `return_labels` the crop's (S, S) map of those indices (-1 on background and ignore)."""
    image = torch.from_numpy(np.array(read_image(record["file_name"], format="RGB"))).permute(2, 0, 1)
    label = torch.from_numpy(np.asarray(read_image(record["sem_seg_file_name"])).astype(np.int64))
    if label.dim() == 3:
        label = label[..., 0]
    short = int(crop_size * 256 / 224)
    image = TF.center_crop(TF.resize(image, short, antialias=True), crop_size)
    label = TF.center_crop(TF.resize(label[None], short, interpolation=TF.InterpolationMode.NEAREST), crop_size)[0]
    present = [int(v) for v in label.unique().tolist() if v != ignore_label and not (has_background and v == 0)]
    ids = [v - 1 if has_background else v for v in present]
    if not return_labels:
        return image, ids
    index = torch.full_like(label, -1)
    for value, i in zip(present, ids):
        index[label == value] = i
    return image, ids, index


def naming_hits(image_scores, group_scores, pixel_groups, labels):
    """Whether one image and its objects are named right.

    Args:
        image_scores: (C,) class scores of the pooled image embedding.
        group_scores: (G, C) class scores of the final groups.
        pixel_groups: (H, W) each pixel's group; labels: (H, W) class indices, -1 where no object.

    Returns:
        (image hit, or None for an image without objects; one hit per object class present).
    """
    present = labels[labels >= 0].unique()
    if present.numel() == 0:
        return None, []
    image_hit = bool((present == image_scores.argmax()).any())
    hits = []
    for c in present.tolist():
        group = pixel_groups[labels == c].mode().values
        hits.append(int(group_scores[group].argmax()) == c)
    return image_hit, hits


@torch.no_grad()
def measure_batch(model, images, class_ids, class_emb, class_names, inner_weights=(0.2, 0.1), label_maps=None):
    """Sums of the METRICS over a batch, and the counts to divide them by.

    Args:
        images: (B, 3, S, S) uint8; class_ids: B lists of zero-shot class indices;
        class_emb: (C, D) normalised class embeddings; class_names: C raw label strings.
        label_maps: (B, S, S) class indices, -1 where no object (see load_sample); without them the
            naming metrics count nothing.
    """
    out = model.encode_image(model.normalize(images))
    batch = images.shape[0]
    num_labels = max(1, max(len(c) for c in class_ids))
    index = torch.zeros(batch, num_labels, dtype=torch.long)
    mask = torch.zeros(batch, num_labels, dtype=torch.bool)
    for i, ids in enumerate(class_ids):
        index[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[i, : len(ids)] = True
    index, mask = index.to(class_emb.device), mask.to(class_emb.device)
    label_emb = class_emb[index] * mask[..., None]
    patch_to_group = out["vision"].patch_to_group()
    affinity = segment_label_affinity(out["group_embeds"], label_emb, model.scale(), mask)
    labelled = int(mask.any(dim=1).sum())
    raw = [[class_names[j] if m else "" for j, m in zip(row, mrow)] for row, mrow in zip(index.tolist(), mask.tolist())]
    positives, text_positives = same_label_positives(raw, mask)
    scale = model.scale(multi_label=True)
    sums = {
        "group_entropy": group_entropy_loss(patch_to_group).item() * batch,
        "label_entropy": label_entropy_loss(patch_to_group, affinity, mask).item() * labelled,
        "segment_entropy": segment_entropy_loss(affinity, mask, *inner_weights).item() * labelled,
        "multi_label": multi_label_contrastive_loss(
            out["image_embeds"], label_emb, scale, label_mask=mask, global_negatives=False).item() * batch,
        "multi_label_non_noisy": multi_label_contrastive_loss(
            out["image_embeds"], label_emb, scale, label_mask=mask, positives=positives,
            text_positives=text_positives, global_negatives=False).item() * batch,
    }
    counts = {"group_entropy": batch, "label_entropy": labelled, "segment_entropy": labelled,
              "multi_label": batch, "multi_label_non_noisy": batch, "image_naming": 0, "group_naming": 0}
    sums["image_naming"] = sums["group_naming"] = 0.0
    if label_maps is not None:
        image_scores = F.normalize(out["image_embeds"], dim=-1) @ class_emb.T
        group_scores = F.normalize(out["group_embeds"], dim=-1) @ class_emb.T
        pixel_groups = upsample_group_maps(patch_to_group, out["vision"].grid, images.shape[-2:]).argmax(dim=1)
        for i in range(batch):
            image_hit, hits = naming_hits(image_scores[i], group_scores[i], pixel_groups[i], label_maps[i])
            if image_hit is not None:
                sums["image_naming"] += image_hit
                counts["image_naming"] += 1
            sums["group_naming"] += sum(hits)
            counts["group_naming"] += len(hits)
    return sums, counts


def measure(model, cfg, dataset_name, num_images=200, batch_size=32):
    """The METRICS of `model` on the first `num_images` images of a registered sem-seg dataset."""
    metadata = MetadataCatalog.get(dataset_name)
    names, has_background, _ = class_names_from_metadata(metadata)
    class_names = [n[0] for n in names]
    records = DatasetCatalog.get(dataset_name)[:num_images]
    if not records:
        raise ValueError(f"Dataset {dataset_name!r} has no images")
    model.eval()
    class_emb, _ = model.class_embeddings(dataset_name)
    crop = cfg.INPUT.IMAGE_TEXT.CROP_SIZE
    ignore = getattr(metadata, "ignore_label", 255)
    inner = (cfg.MODEL.GROUPVIT.LOSS.SEGMENT_ENTROPY_GROUP_WEIGHT, cfg.MODEL.GROUPVIT.LOSS.SEGMENT_ENTROPY_LABEL_WEIGHT)
    totals = {k: 0.0 for k in METRICS}
    counts = {k: 0 for k in METRICS}
    for start in range(0, len(records), batch_size):
        samples = [load_sample(r, crop, ignore, has_background, return_labels=True)
                   for r in records[start: start + batch_size]]
        images = torch.stack([s[0] for s in samples])
        sums, n = measure_batch(model, images, [s[1] for s in samples], class_emb, class_names, inner,
                                label_maps=torch.stack([s[2] for s in samples]))
        for k in METRICS:
            totals[k] += sums[k]
            counts[k] += n[k]
    result = {k: totals[k] / max(counts[k], 1) for k in METRICS}
    result["num_images"] = len(records)
    result["max_group_entropy"] = math.log(model.backbone.num_groups)
    return result


def setup_cfg(args):
    cfg = load_config(args.config_file, args.opts)
    return cfg


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--dataset", default="", help="registered sem-seg dataset (default: DATASETS.TEST[0])")
    parser.add_argument("--num-images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default="", help="also write the numbers to this json file")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, e.g. MODEL.WEIGHTS file.pth")
    args = parser.parse_args(argv)
    setup_logger(name="groupvit_d2")
    cfg = setup_cfg(args)
    dataset = args.dataset or (cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else "")
    if not dataset:
        parser.error("no --dataset and DATASETS.TEST is empty")
    torch.manual_seed(0)
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        GroupViTCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    else:
        logger.warning("MODEL.WEIGHTS is empty: measuring a randomly initialised model")
    result = measure(model, cfg, dataset, args.num_images, args.batch_size)
    result.update(dataset=dataset, weights=cfg.MODEL.WEIGHTS)
    print(f"{dataset}, {result['num_images']} images, weights {cfg.MODEL.WEIGHTS or '(random)'}")
    for key in METRICS:
        print(f"  {key:<22s} {result[key]:.4f}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
