"""Test-time mapper for zero-shot semantic segmentation benchmarks."""

import copy

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.utils.file_io import PathManager
from PIL import Image

from .image_reader import ImageReader

__all__ = ["ZeroShotSemSegDatasetMapper"]


class ZeroShotSemSegDatasetMapper:
    """
    Turn one Detectron2 sem-seg dict into the model's test input, the way the official GroupViT
    evaluation prepares an image.

    Resize rule. The official pipeline is mmseg's
    ``Resize(img_scale=(2048, 448), keep_ratio=True)``, i.e. mmcv ``imrescale``: one factor
    ``f = min(2048 / long_side, 448 / short_side)`` applied to both sides, rounded with
    ``int(x + 0.5)``, up- or down-scaling. Detectron2's
    ``ResizeShortestEdge(448, max_size=2048)`` scales the short side to 448 and, if the long side
    then exceeds 2048, rescales both sides by ``2048 / long``: the overall factor is the same
    ``min(448 / short, 2048 / long)`` with the same rounding. Examples: 500x375 (WxH) -> 597x448;
    3000x400 -> 2048x273 (the long side binds); Cityscapes 2048x1024 -> 896x448.

    Interpolation. mmcv resizes with OpenCV's INTER_LINEAR, which does not low-pass filter when
    shrinking. Detectron2's ResizeTransform uses Pillow for uint8 arrays, and Pillow's bilinear
    filter widens its support when shrinking (anti-aliasing), which changes down-scaled pixels by
    tens of grey levels. The transform is therefore applied to a float32 copy, which Detectron2
    resizes with ``F.interpolate(mode="bilinear", align_corners=False)``: the same sampling as
    INTER_LINEAR (within 1 grey level after rounding back to uint8).

    Small outputs. When the long side binds (panoramas), the short side ends up below the 448
    sliding window (e.g. 273 above). Nothing is padded here: the model's sliding window then spans
    that whole dimension, as mmseg's slide inference does.

    Output dict (input keys are kept):

    * "image": uint8 tensor (3, H', W') in `image_format` channel order (RGB by default).
    * "height", "width": the original image size (before the resize), for upsampling predictions.
    * "file_name": the image path.
    * "dataset_name": the dataset this mapper was built for (left out when it was built without
      one); the model looks up class names in ``MetadataCatalog.get(dataset_name)``.
    * "sem_seg": int64 tensor (H, W) of the label file at its ORIGINAL size, only when
      `load_sem_seg` is set (SemSegEvaluator reads the ground truth from file by itself).

    When the dict names a label file that exists, its size must equal the image's; otherwise a
    ValueError names both files and both sizes.
    """

    @configurable
    def __init__(
        self,
        *,
        augmentations,
        image_format="RGB",
        dataset_name=None,
        load_sem_seg=False,
    ):
        """
        Args:
            augmentations (list[Augmentation]): test-time resize (a ResizeShortestEdge).
            image_format (str): channel order of the returned image, e.g. "RGB".
            dataset_name (str or None): written into every output dict as "dataset_name"
                (not written when None).
            load_sem_seg (bool): also return the ground truth as "sem_seg".
        """
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.dataset_name = dataset_name
        self.load_sem_seg = load_sem_seg
        self._read_image = ImageReader(image_format)

    @classmethod
    def from_config(cls, cfg, is_train=False, dataset_name=None):
        if is_train:
            raise ValueError(
                "ZeroShotSemSegDatasetMapper is a test-time mapper; got is_train=True."
            )
        augs = [
            T.ResizeShortestEdge(
                cfg.INPUT.MIN_SIZE_TEST,
                cfg.INPUT.MAX_SIZE_TEST,
                sample_style="choice",
                interp=Image.BILINEAR,
            )
        ]
        return {
            "augmentations": augs,
            "image_format": cfg.INPUT.FORMAT,
            "dataset_name": dataset_name,
            "load_sem_seg": cfg.INPUT.TEST_LOAD_SEM_SEG,
        }

    def __call__(self, dataset_dict):
        """
        Args:
            dataset_dict (dict): one Detectron2 sem-seg record ("file_name", optionally
                "sem_seg_file_name", "height", "width").

        Returns:
            dict: see the class docstring.
        """
        dataset_dict = copy.deepcopy(dataset_dict)
        file_name = dataset_dict["file_name"]
        image = self._read_image(file_name)
        # Raises Detectron2's SizeMismatchError when the record's height/width disagree.
        utils.check_image_size(dataset_dict, image)
        height, width = image.shape[:2]

        label_file = dataset_dict.get("sem_seg_file_name")
        if label_file is not None and PathManager.exists(label_file):
            with PathManager.open(label_file, "rb") as f:
                label_w, label_h = Image.open(f).size
            if (label_h, label_w) != (height, width):
                raise ValueError(
                    f"Label {label_file} is {label_w}x{label_h} (WxH) but image {file_name} is "
                    f"{width}x{height}; a label must have its image's size."
                )

        aug_input = T.AugInput(image.astype(np.float32))
        self.augmentations(aug_input)
        resized = np.clip(np.rint(aug_input.image), 0, 255).astype(np.uint8)

        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1)))
        dataset_dict["height"] = height
        dataset_dict["width"] = width
        if self.dataset_name is not None:
            dataset_dict["dataset_name"] = self.dataset_name
        if self.load_sem_seg:
            if label_file is None:
                raise ValueError(
                    f"load_sem_seg is set but the record of {file_name} has no 'sem_seg_file_name'."
                )
            dataset_dict["sem_seg"] = torch.as_tensor(_read_label(label_file))
        return dataset_dict


def _read_label(label_file):
    """Read a train-id label PNG (8- or 16-bit, grey or palette) as an int64 (H, W) array."""
    if not PathManager.exists(label_file):
        raise FileNotFoundError(f"Label file {label_file} does not exist.")
    with PathManager.open(label_file, "rb") as f:
        label = np.asarray(Image.open(f), dtype=np.int64)
    if label.ndim != 2:
        raise ValueError(
            f"Label {label_file} has shape {label.shape}; expected a single-channel (H, W) "
            "train-id map."
        )
    return label
