"""Zero-shot segmentation of single images with a vocabulary chosen per call."""
import logging

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.data import transforms as T
from detectron2.modeling import build_model

from .checkpoint import GroupViTCheckpointer
from .data.dataset_mappers import ZeroShotSemSegDatasetMapper
from .data.text import parse_vocabulary, parse_vocabulary_entries

__all__ = ["GroupViTPredictor", "upsampled_argmax"]

logger = logging.getLogger(__name__)

# Upsampled class scores held at once when only labels are asked for (float32 elements: 256 MB).
LABEL_CHUNK_ELEMENTS = 64 * 1024 * 1024


def upsampled_argmax(scores, size, max_elements=LABEL_CHUNK_ELEMENTS):
    """argmax over classes of the bilinear upsampling of (C, h, w) scores to `size`, without
    holding all C upsampled maps: classes are upsampled a chunk at a time and a running maximum
    is kept. Returns an (H, W) int64 tensor, the labels of ``F.interpolate(...).argmax(0)``.
    """
    height, width = (int(v) for v in size)
    per_class = max(1, height * width)
    chunk = max(1, min(scores.shape[0], max_elements // per_class))
    best = labels = None
    for start in range(0, scores.shape[0], chunk):
        up = F.interpolate(scores[None, start : start + chunk], size=(height, width), mode="bilinear",
                           align_corners=False)[0]
        value, index = up.max(0)
        if best is None:
            best, labels = value, index + start
        else:
            # Strictly greater keeps the first maximal class on ties, as argmax does.
            better = value > best
            best = torch.where(better, value, best)
            labels = torch.where(better, index + start, labels)
        del up
    return labels


class GroupViTPredictor:
    """
    Build a GroupViT from a config, load `cfg.MODEL.WEIGHTS` (any format GroupViTCheckpointer
    reads) and segment single images with any vocabulary, like Detectron2's DefaultPredictor.

    The image is resized exactly as ZeroShotSemSegDatasetMapper resizes evaluation images (its
    augmentations, applied to a float copy), so a prediction here equals the --eval-only one.
    Each distinct vocabulary is encoded by the text tower once and cached inside the model;
    changing the vocabulary never rebuilds or reloads anything.

    Example:
        predictor = GroupViTPredictor(cfg)
        out = predictor(cv2.imread("street.jpg"), ["car", "person", ["tree", "trees"]],
                        background_threshold=0.95)
        labels = out["sem_seg"].argmax(0)  # (H, W), indices into out["class_names"]
    """

    def __init__(self, cfg, input_format="BGR"):
        """
        Args:
            cfg (CfgNode): a groupvit_d2 config; MODEL.WEIGHTS empty keeps random weights.
            input_format (str): channel order of the arrays given to __call__: "BGR"
                (cv2.imread, Detectron2's convention) or "RGB".
        """
        if input_format not in ("RGB", "BGR"):
            raise ValueError(f"input_format must be 'RGB' or 'BGR', got {input_format!r}")
        self.cfg = cfg.clone()
        self.input_format = input_format
        self.model_format = cfg.INPUT.FORMAT
        self.model = build_model(self.cfg)
        self.model.eval()
        if cfg.MODEL.WEIGHTS:
            GroupViTCheckpointer(self.model).load(cfg.MODEL.WEIGHTS)
        else:
            logger.warning("MODEL.WEIGHTS is empty: the predictor runs a randomly initialised model.")
        augmentations = ZeroShotSemSegDatasetMapper.from_config(self.cfg, is_train=False)["augmentations"]
        self.resize = T.AugmentationList(augmentations)

    def preprocess(self, image):
        """(H, W, 3) or (H, W) uint8 image in `input_format` -> (3, H', W') uint8 tensor in the
        model's format, resized for evaluation."""
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"expected an (H, W, 3) or (H, W) uint8 image, got shape {image.shape} and dtype "
                f"{image.dtype}; read files with groupvit_d2.data.dataset_mappers.image_reader.ImageReader"
            )
        if self.input_format != self.model_format:
            image = image[:, :, ::-1]
        # Float input makes Detectron2 resize with F.interpolate (OpenCV-like bilinear), as the
        # evaluation mapper does; see ZeroShotSemSegDatasetMapper.
        aug_input = T.AugInput(image.astype(np.float32))
        self.resize(aug_input)
        resized = np.clip(np.rint(aug_input.image), 0, 255).astype(np.uint8)
        return torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1)))

    @torch.no_grad()
    def __call__(self, image, vocabulary, background_threshold=None, return_scores=True):
        """
        Args:
            image (np.ndarray): (H, W, 3) uint8 in `input_format`, or (H, W) grayscale.
            vocabulary (str or list): a string in the `;`/`,` syntax ("car, cars; road")
                or a list of C classes, each a name, a comma-separated string of synonyms
                ("car, cars") or a list of synonyms (see groupvit_d2.data.text.vocabulary).
            background_threshold (float or None): when set, a "background" class 0 is predicted
                where no class reaches this score (0.95 for VOC-like vocabularies).
            return_scores (bool): also return the (C', H, W) scores. Without them, memory no longer
                grows with classes x input pixels: the scores stay at the evaluation resolution and
                the labels are taken from their upsampling a chunk of classes at a time (the same
                labels as the argmax of the full scores, up to float rounding).

        Returns:
            dict:
                "sem_seg": (C', H, W) float class probabilities at the input size, C' = C + 1 with
                    a background (only with `return_scores`);
                "labels": (H, W) int64 class indices into "class_names";
                "class_names": C' display names (the first synonym of each class, "background"
                    first when there is one);
                "group_maps": per grouping stage, an (H, W) int64 tensor of group ids (argmax of the
                    stage's soft patch-to-group map over the whole image, without sliding window).
        """
        # Both raise ValueError on an empty vocabulary, empty names, duplicates and a lone background word.
        parsed = parse_vocabulary(vocabulary) if isinstance(vocabulary, str) else parse_vocabulary_entries(vocabulary)
        if background_threshold is not None and not 0.0 <= float(background_threshold) <= 1.0:
            raise ValueError(f"background_threshold must be in [0, 1], got {background_threshold}")
        height, width = np.asarray(image).shape[:2]
        sample = {
            "image": self.preprocess(image),
            "height": height,
            "width": width,
            "class_names": [list(names) for names in parsed],
            "background_threshold": None if background_threshold is None else float(background_threshold),
        }
        out = {}
        if return_scores or not _has_segment_steps(self.model):
            out["sem_seg"] = self.model([sample])[0]["sem_seg"]
            out["labels"] = out["sem_seg"].argmax(0)
            if not return_scores:
                del out["sem_seg"]
        else:
            out["labels"] = self._labels_at_input_size(sample)
        group_maps = [
            F.interpolate(g[None, None].float(), size=(height, width), mode="nearest")[0, 0].long()
            for g in self.model.group_maps(sample)
        ]
        names = [n[0] for n in parsed]
        if background_threshold is not None:
            names = ["background"] + names
        return {**out, "class_names": names, "group_maps": group_maps}

    def _labels_at_input_size(self, sample):
        """The model's labels for `sample` without its (C, height, width) scores.

        The model's scores at the input size are softmax(bilinear(z)) of its window-averaged scores
        z at the evaluation size. Asking for them at the evaluation size gives softmax(z); its log
        is z minus one value per pixel, which neither bilinear upsampling nor the argmax over
        classes sees.
        """
        model = self.model
        class_emb, background_threshold = model.sample_class_embeddings(sample)
        low_res = dict(sample, height=sample["image"].shape[-2], width=sample["image"].shape[-1])
        probs = model.segment_sample(low_res, lambda crops: model.segment_crops(crops, class_emb, background_threshold))
        logits = probs.float().clamp_min_(torch.finfo(torch.float32).tiny).log_()
        logits -= logits.max(0, keepdim=True).values  # small magnitudes, small rounding
        return upsampled_argmax(logits, (sample["height"], sample["width"]))


def _has_segment_steps(model):
    return all(hasattr(model, name) for name in ("sample_class_embeddings", "segment_sample", "segment_crops"))
