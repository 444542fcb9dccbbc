"""Turn an image-caption pair into GroupViT training inputs: an augmented image and K+1 texts."""

import logging
import random

import numpy as np
import torch
from detectron2.config import configurable
from PIL import Image, ImageOps
from timm.data.transforms_factory import transforms_imagenet_train
from timm.data.transforms import str_to_pil_interp
from torchvision import transforms as T

from ..text import (
    build_labels,
    build_noun_extractor,
    build_tokenizer,
    get_templates,
    load_vocabulary,
)
from .image_reader import ImageReader

__all__ = ["ImageTextDatasetMapper", "build_image_text_augmentation"]

logger = logging.getLogger(__name__)


def _posterize_any_bits(img, bits_to_keep, **__):
    # Pillow < 10 turned 0 bits into a black image; newer Pillow raises instead.
    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits_to_keep)


def _allow_zero_bit_posterize(transform):
    """timm's increasing posterize reaches 0 bits at magnitude 10, which "mstd0.5" noise around m9
    hits; keep the behaviour the official runs had (a black image) instead of a crash."""
    for t in getattr(transform, "transforms", ()):
        for op in getattr(t, "ops", ()):
            if op.name.startswith("Posterize"):
                op.aug_fn = _posterize_any_bits


def build_image_text_augmentation(cfg, is_train=True):
    """A callable `PIL.Image (RGB) -> uint8 tensor (3, S, S)`, S = INPUT.IMAGE_TEXT.CROP_SIZE.

    Training: timm's ImageNet training pipeline as the official code configures it (random resized
    crop with CROP_SCALE, horizontal flip, RandAugment RAND_AUGMENT, colour jitter COLOR_JITTER,
    which timm leaves out whenever RandAugment is on, as in the official runs) without
    normalisation and random erasing: the model normalises with its checkpoint's statistics and
    then erases (INPUT.IMAGE_TEXT.RANDOM_ERASING) on the normalised batch.
    Test: resize the short side to S * 256 / 224, centre crop S (the official validation transform).
    """
    it = cfg.INPUT.IMAGE_TEXT
    size = int(it.CROP_SIZE)
    if is_train:
        auto_augment = (
            it.RAND_AUGMENT if it.RAND_AUGMENT and it.RAND_AUGMENT.lower() != "none" else None
        )
        transform = transforms_imagenet_train(
            img_size=size,
            scale=tuple(it.CROP_SCALE),
            hflip=0.5 if it.HFLIP else 0.0,
            color_jitter=it.COLOR_JITTER if it.COLOR_JITTER > 0 else None,
            auto_augment=auto_augment,
            interpolation=it.INTERPOLATION,
            re_prob=0.0,
            normalize=False,
        )
        _allow_zero_bit_posterize(transform)
        return transform
    return T.Compose(
        [
            T.Resize(int(size * 256 / 224), interpolation=str_to_pil_interp(it.INTERPOLATION)),
            T.CenterCrop(size),
            T.PILToTensor(),
        ]
    )


class ImageTextDatasetMapper:
    """
    Map one image-caption sample to the inputs of GroupViT's contrastive training.

    Accepts a webdataset sample {"image": PIL.Image or HxWx3 uint8 array, "caption": str} or a
    registered-dataset dict {"file_name": str, "captions": list[str]} (one caption is drawn) or
    {"file_name", "caption"}.

    Returns a dict:
        "image": uint8 tensor (3, S, S), RGB, not normalised;
        "text": LongTensor (1 + K, context_length): the caption's tokens, then the K labels'
            (each SOT ... EOT, zero padded; a pad label is SOT EOT);
        "label_mask": BoolTensor (K,), False for pad labels;
        "raw_labels": list[str] (K), the labels before prompting;
        "caption": str;
        and "file_name", "image_id", "key" when the input has them.
    """

    @configurable
    def __init__(
        self,
        is_train=True,
        *,
        augmentation,
        tokenizer,
        num_labels,
        templates,
        label_sources=("nouns",),
        label_fill="caption",
        noun_extractor=None,
        vocabulary=None,
        strict_vocabulary=False,
        label_stopwords=(),
    ):
        """
        Args:
            is_train: training draws captions and labels at random; otherwise they are drawn
                with a generator seeded by the caption, so the output is reproducible.
            augmentation: callable `PIL.Image -> uint8 tensor (3, S, S)`.
            tokenizer: callable `list[str] -> LongTensor (N, context_length)`.
            num_labels: K.
            templates: prompt templates (callables `str -> str`).
            label_sources, label_fill, vocabulary, strict_vocabulary: see `build_labels`.
            label_stopwords: words never used as labels (`build_labels`'s `stopwords`).
            noun_extractor: a NounExtractor; needed when label_sources has nouns or noun phrases.
        """
        self.is_train = is_train
        self.augmentation = augmentation
        self.tokenizer = tokenizer
        self.num_labels = int(num_labels)
        self.templates = tuple(templates)
        self.label_sources = tuple(label_sources)
        self.label_fill = label_fill
        self.noun_extractor = noun_extractor
        self.vocabulary = vocabulary
        self.strict_vocabulary = strict_vocabulary
        self.label_stopwords = frozenset(w.lower() for w in label_stopwords)
        self._read_image = ImageReader("RGB")
        needs_extractor = self.num_labels > 0 and any(s != "caption" for s in self.label_sources)
        if needs_extractor and noun_extractor is None:
            raise ValueError(f"label sources {self.label_sources} need a noun_extractor")

    @classmethod
    def from_config(cls, cfg, is_train=True):
        it = cfg.INPUT.IMAGE_TEXT
        sources = tuple(it.LABEL_SOURCES)
        extractor = None
        if it.NUM_LABELS > 0 and any(s != "caption" for s in sources):
            extractor = build_noun_extractor(it.NOUN_EXTRACTOR, it.WORDNET_DIR, tuple(it.NOUN_TAGS))
        return {
            "is_train": is_train,
            "augmentation": build_image_text_augmentation(cfg, is_train),
            "tokenizer": build_tokenizer(cfg.MODEL.GROUPVIT.TEXT.CONTEXT_LENGTH),
            "num_labels": it.NUM_LABELS,
            "templates": get_templates(it.TEMPLATES),
            "label_sources": sources,
            "label_fill": it.LABEL_FILL,
            "noun_extractor": extractor,
            "vocabulary": load_vocabulary(it.LABEL_VOCABULARY) if it.LABEL_VOCABULARY else None,
            "strict_vocabulary": it.LABEL_VOCABULARY_STRICT,
            "label_stopwords": tuple(it.LABEL_STOPWORDS),
        }

    def _image(self, sample):
        image = sample.get("image")
        if image is None:
            if "file_name" not in sample:
                raise KeyError(
                    f"image-text sample has neither 'image' nor 'file_name' (keys: {sorted(sample)})"
                )
            return Image.fromarray(self._read_image(sample["file_name"]))
        if isinstance(image, np.ndarray):
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(
                    f"sample 'image' array must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}"
                )
            return Image.fromarray(image)
        if isinstance(image, Image.Image):
            return image if image.mode == "RGB" else image.convert("RGB")
        raise TypeError(
            f"sample 'image' must be a PIL image or a uint8 array, got {type(image).__name__}"
        )

    def _caption(self, sample, rng):
        caption = sample.get("caption")
        if caption is None:
            captions = [c for c in sample.get("captions", []) if isinstance(c, str) and c.strip()]
            if not captions:
                raise ValueError(
                    f"sample {sample.get('file_name', sample.get('key'))!r} has no caption "
                    "(expected 'caption' or a non-empty 'captions' list)"
                )
            caption = rng.choice(captions)
        return caption.strip()

    def __call__(self, sample):
        rng = (
            random
            if self.is_train
            else random.Random(str(sample.get("caption", sample.get("captions"))))
        )
        caption = self._caption(sample, rng)
        image = self.augmentation(self._image(sample))
        labels = build_labels(
            caption,
            self.num_labels,
            sources=self.label_sources,
            fill=self.label_fill,
            vocabulary=self.vocabulary,
            rng=rng,
            templates=self.templates,
            extractor=self.noun_extractor,
            strict_vocabulary=self.strict_vocabulary,
            stopwords=self.label_stopwords,
        )
        out = {
            "image": image,
            "text": self.tokenizer([caption] + list(labels.texts)),
            "label_mask": torch.tensor(labels.mask, dtype=torch.bool),
            "raw_labels": list(labels.raw),
            "caption": caption,
        }
        for key in ("file_name", "image_id", "key"):
            if key in sample:
                out[key] = sample[key]
        return out
