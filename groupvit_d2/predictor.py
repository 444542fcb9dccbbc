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

__all__ = ["GroupViTPredictor"]

logger = logging.getLogger(__name__)


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
    def __call__(self, image, vocabulary, background_threshold=None):
        """
        Args:
            image (np.ndarray): (H, W, 3) uint8 in `input_format`, or (H, W) grayscale.
            vocabulary (str or list): a string in the `;`/`,` syntax ("car, cars; road")
                or a list of C classes, each a name, a comma-separated string of synonyms
                ("car, cars") or a list of synonyms (see groupvit_d2.data.text.vocabulary).
            background_threshold (float or None): when set, a "background" class 0 is predicted
                where no class reaches this score (SPEC section 3; 0.95 for VOC-like vocabularies).

        Returns:
            dict:
                "sem_seg": (C', H, W) float class probabilities at the input size, C' = C + 1 with
                    a background;
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
        sem_seg = self.model([sample])[0]["sem_seg"]
        group_maps = [
            F.interpolate(g[None, None].float(), size=(height, width), mode="nearest")[0, 0].long()
            for g in self.model.group_maps(sample)
        ]
        names = [n[0] for n in parsed]
        if background_threshold is not None:
            names = ["background"] + names
        return {"sem_seg": sem_seg, "class_names": names, "group_maps": group_maps}
