"""The part of an image-text dual encoder that GroupViT, PACL and CLIPpy share: the learnable
temperature, the pixel statistics, the cached class embeddings and the sliding-window zero-shot
segmentation of one evaluation sample."""
import hashlib
import math

import torch
import torch.nn as nn
from detectron2.data import MetadataCatalog

from ...data.datasets.prompt_protocols import PROMPT_PROTOCOLS
from ...data.text import get_templates
from .embedding_cache import ClassEmbeddingStore, text_tower_fingerprint
from .images import normalize_pixels
from .precision import PRECISIONS, inference_autocast, resolve_precision
from .sliding_window import finalize_logits, sliding_window_inference
from .text_classifier import TextClassifier, class_names_from_metadata

__all__ = ["DualEncoder", "inference_options"]


def inference_options(cfg):
    """The DualEncoder arguments every meta-architecture reads from the same keys."""
    cache = cfg.TEST.CLASS_EMBEDDING_CACHE
    return {
        "pixel_mean": cfg.MODEL.PIXEL_MEAN,
        "pixel_std": cfg.MODEL.PIXEL_STD,
        "prompt_protocol": cfg.TEST.PROMPT_PROTOCOL,
        "sliding_window": cfg.TEST.SLIDING_WINDOW.ENABLED,
        "crop_size": cfg.TEST.SLIDING_WINDOW.CROP_SIZE,
        "stride": cfg.TEST.SLIDING_WINDOW.STRIDE,
        "max_windows_per_batch": cfg.TEST.SLIDING_WINDOW.MAX_BATCH,
        "precision": cfg.MODEL.PRECISION,
        "embedding_cache": ClassEmbeddingStore(cache.DIR or None) if cache.ENABLED else None,
    }


class DualEncoder(nn.Module):
    """Base of the image-text meta-architectures.

    Holds `logit_scale` (log of the contrastive temperature scale, clamped at `max_logit_scale`),
    the persistent `pixel_mean`/`pixel_std` buffers (so every checkpoint carries the normalisation
    it was trained with), the `text_classifier` cache of class embeddings (cleared whenever the
    weights can change: training mode or a state-dict load; backed by an on-disk store keyed by
    the text tower's weights), the test-time sliding window and the inference precision.
    """

    def __init__(self, *, pixel_mean, pixel_std, contrast_temperature=0.07, max_logit_scale=100.0,
                 templates="full", sliding_window=True, crop_size=448, stride=224, prompt_protocol="official",
                 max_windows_per_batch=16, precision="fp32", embedding_cache=None):
        """
        Args:
            pixel_mean, pixel_std: 3 values each, 0-255 RGB scale.
            contrast_temperature: initial temperature of the contrastive loss.
            max_logit_scale: the clamp of exp(logit_scale).
            templates: prompt template set of the class embeddings ("full", "subset", "identity").
            sliding_window, crop_size, stride: the test-time sliding window.
            prompt_protocol: which of a dataset's class names to prompt with ("official", "tcl").
            max_windows_per_batch: crops encoded per call (windows of one image, and of same-size
                images of one batch).
            precision: MODEL.PRECISION, "fp32", "bf16" or "auto" (see resolve_precision): the
                autocast of the image side of zero-shot inference.
            embedding_cache: a ClassEmbeddingStore keeping class embeddings between processes, or
                None.
        """
        super().__init__()
        if not contrast_temperature > 0:
            raise ValueError(f"the contrast temperature must be > 0, got {contrast_temperature}")
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / contrast_temperature)))
        self.max_logit_scale = max_logit_scale
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(-1, 1, 1))
        self.templates_name = templates
        if prompt_protocol not in PROMPT_PROTOCOLS:
            raise ValueError(f"TEST.PROMPT_PROTOCOL must be one of {PROMPT_PROTOCOLS}, got {prompt_protocol!r}")
        self.prompt_protocol = prompt_protocol
        self.sliding_window = sliding_window
        self.crop_size = crop_size
        self.stride = stride
        if int(max_windows_per_batch) < 1:
            raise ValueError(f"TEST.SLIDING_WINDOW.MAX_BATCH must be >= 1, got {max_windows_per_batch}")
        self.max_windows_per_batch = int(max_windows_per_batch)
        if precision not in PRECISIONS:
            raise ValueError(f"MODEL.PRECISION must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.text_classifier = TextClassifier(store=embedding_cache)
        self._text_fingerprint = None
        self.register_load_state_dict_post_hook(lambda module, keys: module.forget_text_embeddings())

    @property
    def device(self):
        return self.pixel_mean.device

    def train(self, mode=True):
        if mode:
            self.forget_text_embeddings()
        return super().train(mode)

    def forget_text_embeddings(self):
        """Drop the class embeddings held in memory and the text tower's fingerprint (the disk
        entries of other weights stay, under their own keys)."""
        self.text_classifier.clear()
        self._text_fingerprint = None

    def text_modules(self):
        """The modules `encode_text` runs: their weights and structure key the on-disk cache."""
        return [m for m in (getattr(self, "text_encoder", None), getattr(self, "text_projector", None))
                if isinstance(m, nn.Module)]

    def text_fingerprint(self):
        """sha256 of the text tower (weights, structure, tokenizer), computed once per weights."""
        if self._text_fingerprint is None:
            tokenizer = getattr(self, "tokenizer", None) or getattr(self.text_encoder, "tokenize", None)
            owner = getattr(tokenizer, "__self__", tokenizer)
            extra = (f"{type(self).__qualname__}|tokenizer {type(owner).__qualname__} "
                     f"context_length={getattr(owner, 'context_length', None)}")
            self._text_fingerprint = text_tower_fingerprint(self.text_modules(), extra)
        return self._text_fingerprint

    def inference_dtype(self):
        """The dtype MODEL.PRECISION resolves to on the model's device (logged once)."""
        return resolve_precision(self.precision, self.device)

    def inference_precision(self):
        """The autocast context of the image side of inference (nothing for fp32, so that a
        caller's own autocast still applies)."""
        return inference_autocast(self.inference_dtype(), self.device)

    def scale(self):
        """min(exp(logit_scale), max): the clamped temperature scale (0-d tensor)."""
        return self.logit_scale.exp().clamp(max=self.max_logit_scale)

    def normalize(self, images):
        """(B, 3, H, W) 0-255 RGB -> normalised float images."""
        return normalize_pixels(images, self.pixel_mean, self.pixel_std)

    def training_images(self, batched_inputs):
        """The normalised (B, 3, S, S) batch of a training step; every image must have one size."""
        sizes = {tuple(x["image"].shape) for x in batched_inputs}
        if len(sizes) != 1:
            raise ValueError(f"Training images must share one size, got {sorted(sizes)}")
        return self.normalize(torch.stack([x["image"] for x in batched_inputs]))

    def configured_vocabulary(self):
        """The vocabulary a model carries in its config, used when a sample names no classes:
        (lists of synonyms, one a class, background entry excluded; background threshold or None),
        or None when it has none."""
        return None

    def class_vocabulary(self, dataset_name=None, class_names=None, background_threshold=None):
        """(cache key, lists of synonyms one a class, background threshold or None) of the classes
        to segment: `class_names` (C entries, no background entry; `background_threshold` None or
        the threshold of a background class 0), else the configured vocabulary, else a dataset's
        metadata (its names, synonyms and background for TEST.PROMPT_PROTOCOL)."""
        if class_names is not None:
            names = list(class_names)
            # Per-call vocabularies get their own cache entries, so switching never rebuilds the model.
            return "names:" + hashlib.sha1(repr(names).encode()).hexdigest(), names, background_threshold
        configured = self.configured_vocabulary()
        if configured is not None:
            names, background_threshold = configured
            key = "vocabulary:" + hashlib.sha1(repr((names, background_threshold)).encode()).hexdigest()
            return key, list(names), background_threshold
        if dataset_name is None:
            raise ValueError("an evaluation sample needs 'dataset_name' or 'class_names' to know its classes")
        names, _, background_threshold = class_names_from_metadata(
            MetadataCatalog.get(dataset_name), self.prompt_protocol
        )
        return f"dataset:{dataset_name}|{self.prompt_protocol}", names, background_threshold

    def class_embeddings(self, dataset_name=None, class_names=None, background_threshold=None):
        """The (C, D) normalised class embeddings of class_vocabulary(...) and its background threshold
        (None when there is no background class). Embeddings are the template mean of the text
        embeddings, built with the text tower's own tokenizer and cached per vocabulary (in memory,
        and on disk under the text tower's fingerprint)."""
        key, names, background_threshold = self.class_vocabulary(dataset_name, class_names, background_threshold)
        tokenizer = getattr(self, "tokenizer", None) or self.text_encoder.tokenize
        # fp32 whatever the caller's autocast: the cache must not depend on the first call's precision.
        with torch.autocast(self.device.type, enabled=False):
            emb = self.text_classifier.get(f"{key}|{self.templates_name}", names, get_templates(self.templates_name),
                                           self.encode_text, tokenizer, fingerprint=self.text_fingerprint)
        return emb, background_threshold

    def sample_class_embeddings(self, sample):
        """class_embeddings() of an evaluation sample: its own "class_names" (and
        "background_threshold"), else the configured vocabulary, else its "dataset_name"."""
        named = sample.get("class_names") is not None or sample.get("dataset_name") is not None
        if not named and self.configured_vocabulary() is None:
            raise ValueError(
                "an evaluation sample needs 'dataset_name' or 'class_names' to know its classes "
                f"(keys: {sorted(sample)})"
            )
        return self.class_embeddings(sample.get("dataset_name"), sample.get("class_names"),
                                     sample.get("background_threshold"))

    def segment_sample(self, sample, segment_crops):
        """(C, height, width) class scores of one evaluation sample.

        `segment_crops` maps (n, 3, h, w) normalised crops to (n, C, h, w) scores; it sees the
        sliding-window crops when the window is on, else the whole resized image. The scores are
        resized to the sample's "height"/"width" (its original size)."""
        image = self.normalize(sample["image"][None])
        with self.inference_precision():
            if self.sliding_window:
                logits = sliding_window_inference(image, self.crop_size, self.stride, segment_crops,
                                                  max_windows_per_batch=self.max_windows_per_batch)
            else:
                logits = segment_crops(image)
        height = sample.get("height", image.shape[-2])
        width = sample.get("width", image.shape[-1])
        return finalize_logits(logits, (height, width))[0]

    def classify_embeddings(self, dataset_name=None, class_names=None):
        """The (C, D) class embeddings of a classify() call, which names exactly one of the two."""
        if (dataset_name is None) == (class_names is None):
            raise ValueError("classify: give exactly one of dataset_name and class_names")
        return self.class_embeddings(dataset_name, class_names)[0]
