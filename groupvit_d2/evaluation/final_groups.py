"""The final groups of an image as the zero-shot pipeline forms them: per window, a feature for
each group and the pixels it owns (the argmax of the upsampled soft patch-to-group map)."""
import torch
import torch.nn.functional as F

from ..modeling.core import window_grid
from ..modeling.core.images import normalize_pixels
from ..modeling.groupvit.zero_shot import cumulative_group_maps, onehot_argmax, upsample_group_maps

__all__ = ["FinalGroups"]

FEATURES = ("tokens", "projected")


class FinalGroups:
    """Final-group features and pixel masks of a GroupViT image encoder.

    An image is cut into the sliding windows of the zero-shot evaluation (or taken whole); each
    window is encoded separately, exactly as `GroupViT.segment_crops` does.

    Args:
        backbone: a GroupViTImageEncoder (it needs `encode_any_size`).
        pixel_mean, pixel_std: (3,) or (3, 1, 1) statistics, 0-255 scale, RGB.
        feature: "tokens" (the final group tokens after the last LayerNorm, the thesis' features)
            or "projected" (the group embeddings in the joint space; needs `projector`).
        projector: the image projector (e.g. GroupViT.img_projector), for "projected".
        crop_size, stride: the sliding window; crop_size None takes every image whole.
    """

    def __init__(self, backbone, pixel_mean, pixel_std, *, feature="tokens", projector=None, crop_size=None,
                 stride=None):
        if feature not in FEATURES:
            raise ValueError(f"TEST.KNN_FEATURE must be one of {FEATURES}, got {feature!r}")
        if feature == "projected" and projector is None:
            raise ValueError("The 'projected' group features need the model's image projector (img_projector)")
        if not hasattr(backbone, "encode_any_size"):
            raise ValueError(
                f"{type(backbone).__name__} has no `encode_any_size`: the grouping diagnostics need the "
                "GroupViTImageEncoder backbone"
            )
        self.backbone = backbone
        self.projector = projector if feature == "projected" else None
        self.feature = feature
        mean = torch.as_tensor(pixel_mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.as_tensor(pixel_std, dtype=torch.float32).view(-1, 1, 1)
        self.pixel_mean, self.pixel_std = mean, std
        self.crop_size = crop_size
        self.stride = stride if crop_size is not None else None

    @classmethod
    def from_model(cls, model, feature="tokens", whole_image=False):
        """From a GroupViT meta-architecture (its sliding window too, unless `whole_image`) or any
        model with a GroupViT `backbone` and `pixel_mean`/`pixel_std` (e.g. a SemanticSegmentor;
        whole images)."""
        model = getattr(model, "module", model)
        sliding = bool(getattr(model, "sliding_window", False)) and not whole_image
        return cls(
            model.backbone, model.pixel_mean, model.pixel_std, feature=feature,
            projector=getattr(model, "img_projector", None),
            crop_size=model.crop_size if sliding else None, stride=model.stride if sliding else None,
        )

    @property
    def device(self):
        return next(self.backbone.parameters()).device

    def normalize(self, image):
        """(3, H, W) 0-255 RGB -> (1, 3, H, W) normalised float image on the backbone's device."""
        return normalize_pixels(image, self.pixel_mean.to(self.device), self.pixel_std.to(self.device))[None]

    def windows(self, height, width):
        """The (y1, y2, x1, x2) windows of an image of that size (one when taken whole)."""
        if self.crop_size is None:
            return [(0, height, 0, width)]
        return window_grid(height, width, self.crop_size, self.stride)

    @torch.no_grad()
    def __call__(self, crops):
        """crops: (n, 3, h, w) normalised. Returns (features (n, G, D) L2-normalised,
        onehot (n, G, h, w): 1 where a pixel's argmax group is g)."""
        h, w = crops.shape[-2:]
        vision = self.backbone.encode_any_size(crops)
        if not vision.soft_assignments:
            raise ValueError("The image encoder has no grouping stage: it has no final groups to evaluate")
        maps = cumulative_group_maps(vision.soft_assignments)[-1]
        onehot = onehot_argmax(upsample_group_maps(maps, vision.grid, (h, w)))
        features = vision.tokens if self.projector is None else self.projector(vision.tokens)
        return F.normalize(features.float(), dim=-1), onehot
