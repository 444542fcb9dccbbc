"""CLIPpy as a Detectron2 meta-architecture: a CLIP-style dual encoder with max-pooled patch
embeddings, a self-supervised ViT and a sentence-T5 text tower (CLIPpy paper; its segmentation:
docs/DESIGN.md section 3)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from ..core import (
    DualEncoder,
    caption_tokens,
    image_text_contrastive_loss,
    inference_options,
    patch_class_probabilities,
)
from ..core.images import crop_to_patches
from .aggregation import AGGREGATIONS, aggregate
from .image_encoder import build_timm_vit
from .pca_grouping import pca_group_scores
from .text_encoder import build_sentence_t5

__all__ = ["CLIPpy"]


@META_ARCH_REGISTRY.register()
class CLIPpy(DualEncoder):
    """CLIPpy: image-text contrastive training of a ViT whose projected patch embeddings are
    aggregated by max pooling (or average pooling / the class token), with random dropping of
    visual tokens in training. Only the caption of each sample is used.

    Training input (a list of dicts): "image" (3, S, S) uint8 RGB (S may exceed the tower's
    native size: the position embedding is resampled); "text" (1 + K, L) or (L,) CLIP BPE ids with
    the caption in row 0, or "caption" (str) for a pretrained text tower with its own tokenizer.
    Training output: {"loss_contrastive"}.

    Inference input: "image" (3, H, W) uint8 resized for evaluation, "height"/"width" (original
    size), and "dataset_name" or "class_names" (optionally "background_threshold").
    Inference output: [{"sem_seg": (C, height, width) class probabilities from the per-patch text
    similarity (top-down grouping), "groups": (height, width) int64 ids of the bottom-up PCA
    grouping}].
    """

    @configurable
    def __init__(self, *, backbone, text_encoder, img_projector, text_projector, aggregation="max", num_groups=8,
                 **dual_encoder_args):
        """
        Args:
            backbone: timm VisionTransformer (forward_features -> (B, P + N, C)).
            text_encoder: SentenceT5Encoder, (N, L) ids -> (N, C_t).
            img_projector: (..., C) -> (..., D); applied to every token before aggregation, so
                the patch embeddings live in the joint space.
            text_projector: (..., C_t) -> (..., D).
            aggregation: "max", "avg" or "cls".
            num_groups: principal components (centres) of the bottom-up grouping.
            dual_encoder_args: DualEncoder's (pixel statistics, temperature, prompts, sliding
                window, precision, class-embedding cache).
        """
        super().__init__(**dual_encoder_args)
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"MODEL.CLIPPY.AGGREGATION must be one of {AGGREGATIONS}, got {aggregation!r}")
        if aggregation == "cls" and backbone.num_prefix_tokens == 0:
            raise ValueError("MODEL.CLIPPY.AGGREGATION 'cls' needs an image tower with a class token")
        self.backbone = backbone
        self.text_encoder = text_encoder
        self.img_projector = img_projector
        self.text_projector = text_projector
        self.aggregation = aggregation
        self.num_groups = num_groups

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.CLIPPY
        backbone = build_timm_vit(c.IMAGE_MODEL, c.IMAGE_PRETRAINED, c.IMAGE_OVERRIDES, c.PATCH_DROP_RATE)
        text_encoder = build_sentence_t5(c.TEXT_MODEL, c.TEXT_PRETRAINED, c.TEXT_OVERRIDES, c.CONTEXT_LENGTH)
        return {
            "backbone": backbone,
            "text_encoder": text_encoder,
            "img_projector": nn.Linear(backbone.num_features, c.EMBED_DIM),
            "text_projector": nn.Linear(text_encoder.width, c.EMBED_DIM),
            "aggregation": c.AGGREGATION,
            "contrast_temperature": c.CONTRAST_TEMPERATURE,
            "max_logit_scale": c.MAX_LOGIT_SCALE,
            "num_groups": c.NUM_GROUPS,
            "templates": c.TEMPLATES,
            **inference_options(cfg),
        }

    @property
    def patch_size(self):
        return int(self.backbone.patch_embed.patch_size[0])

    def backbone_tokens(self, images):
        """images: (B, 3, H, W) normalised -> (prefix tokens (B, P, C), patch tokens (B, N, C),
        grid (h, w)). In training N is the share of the h * w patches that was kept."""
        p = self.patch_size
        h, w = images.shape[-2:]
        tokens = self.backbone.forward_features(crop_to_patches(images, p))
        prefix = self.backbone.num_prefix_tokens
        return tokens[:, :prefix], tokens[:, prefix:], (h // p, w // p)

    def encode_image(self, images):
        """images: (B, 3, H, W) normalised. Returns {"image_embeds": (B, D), "patch_embeds":
        (B, N, D) (projected, un-normalised), "patch_tokens": (B, N, C), "grid": (h, w)}."""
        prefix, patches, grid = self.backbone_tokens(images)
        patch_embeds = self.img_projector(patches)
        cls_embeds = self.img_projector(prefix[:, 0]) if self.aggregation == "cls" else None
        return {
            "image_embeds": aggregate(patch_embeds, cls_embeds, self.aggregation),
            "patch_embeds": patch_embeds,
            "patch_tokens": patches,
            "grid": grid,
        }

    def encode_text(self, tokens):
        """(N, L) ids -> (N, D) projected, un-normalised text embeddings."""
        return self.text_projector(self.text_encoder(tokens.to(self.device)))

    def forward(self, batched_inputs):
        if self.training:
            return self.losses(batched_inputs)
        return [self.semantic_inference(x) for x in batched_inputs]

    def losses(self, batched_inputs):
        image_embeds = self.encode_image(self.training_images(batched_inputs))["image_embeds"]
        text_embeds = self.encode_text(caption_tokens(batched_inputs, self.text_encoder))
        return {"loss_contrastive": image_text_contrastive_loss(image_embeds, text_embeds, self.scale())}

    # ----------------------------------------------------------------------------------------
    # Zero-shot inference
    # ----------------------------------------------------------------------------------------
    def segment_crops(self, crops, class_emb, background_threshold):
        """(n, 3, h, w) normalised crops -> (n, C[+1], h, w) class probabilities."""
        out = self.encode_image(crops)
        return patch_class_probabilities(out["patch_embeds"], out["grid"], class_emb, self.scale(),
                                         crops.shape[-2:], background_threshold)

    @torch.no_grad()
    def group_maps(self, sample):
        """[(H, W) int64 bottom-up group ids of the (resized) image]: one grouping level (GroupViT's
        lists its stages), the PCA centres of the patch features (the tower's output tokens), cosine
        scores upsampled bilinearly before the argmax."""
        image = self.normalize(sample["image"][None])
        out = self.encode_image(image)
        h, w = out["grid"]
        scores = pca_group_scores(out["patch_tokens"][0], self.num_groups)
        scores = scores.t().reshape(1, -1, h, w)
        return [F.interpolate(scores, size=image.shape[-2:], mode="bilinear", align_corners=False)[0].argmax(0)]

    @torch.no_grad()
    def semantic_inference(self, sample):
        """One evaluation sample -> {"sem_seg": (C, height, width), "groups": (height, width)}."""
        class_emb, background_threshold = self.sample_class_embeddings(sample)
        sem_seg = self.segment_sample(sample, lambda crops: self.segment_crops(crops, class_emb, background_threshold))
        height, width = sem_seg.shape[-2:]
        (groups,) = self.group_maps(sample)
        groups = F.interpolate(groups[None, None].float(), size=(height, width), mode="nearest")[0, 0].long()
        return {"sem_seg": sem_seg, "groups": groups}

    @torch.no_grad()
    def classify(self, images, dataset_name=None, class_names=None):
        """Zero-shot image classification: (B, 3, H, W) uint8 RGB -> (B, C) plain cosine
        similarities of the aggregated image embedding to the class embeddings."""
        class_emb = self.classify_embeddings(dataset_name, class_names)
        image_embeds = self.encode_image(self.normalize(images))["image_embeds"]
        return F.normalize(image_embeds.float(), dim=-1) @ class_emb.to(image_embeds.device).t()
