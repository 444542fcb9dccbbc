"""PACL as a Detectron2 meta-architecture: an open_clip model whose patch tokens are aligned with
its text embedding (PACL paper; its segmentation: docs/DESIGN.md section 3)."""
import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from ..core import DualEncoder, caption_tokens, inference_options, patch_class_probabilities
from .compatibility import compatibility
from .loss import patch_text_contrastive_loss
from .open_clip_towers import build_open_clip, build_open_clip_tokenizer, split_open_clip
from .vision_embedder import VisionEmbedder

__all__ = ["PACL"]


@META_ARCH_REGISTRY.register()
class PACL(DualEncoder):
    """Patch Aligned Contrastive Learning on an open_clip model.

    A vision embedder e_v maps every patch token of the image tower into the text space; the
    compatibility of an image and a text pools the patch-text cosines with a softmax over patches
    (see compatibility), and training is CLIP's contrastive loss over it. Only the caption of each
    sample is used (the prompted labels of the image-text mapper are not).

    Training input (a list of dicts): "image" (3, S, S) uint8 RGB; "text" (1 + K, L) or (L,) CLIP
    BPE ids whose row 0 is the caption (towers with another tokenizer read "caption" instead).
    Training output: {"loss_pacl"}.

    Inference input: "image" (3, H, W) uint8 resized for evaluation, "height"/"width" (original
    size), and "dataset_name" or "class_names" (optionally "background_threshold").
    Inference output: [{"sem_seg": (C, height, width) class probabilities}], from the per-patch
    text similarity, with the patch stride `test_stride` (the stride trick).
    """

    @configurable
    def __init__(self, *, backbone, text_encoder, vision_embedder, attention_scale=1.0, test_stride=0,
                 freeze_vision=True, freeze_text=True, **dual_encoder_args):
        """
        Args:
            backbone: OpenCLIPPatchTokens, (B, 3, H, W) -> (B, N, C) patch tokens.
            text_encoder: OpenCLIPTextTower, (N, L) ids -> (N, D) text embeddings.
            vision_embedder: (..., C) -> (..., D), e_v.
            attention_scale: factor inside the softmax over patches (1 in the paper).
            test_stride: patch stride at test time, 0 for the patch size.
            freeze_vision, freeze_text: keep the towers' weights fixed (the paper trains e_v only).
            dual_encoder_args: DualEncoder's (pixel statistics, temperature, prompts, sliding
                window, precision, class-embedding cache).
        """
        super().__init__(**dual_encoder_args)
        self.backbone = backbone
        self.text_encoder = text_encoder
        self.vision_embedder = vision_embedder
        self.freeze_vision = freeze_vision
        if freeze_vision:
            backbone.requires_grad_(False)
        if freeze_text:
            text_encoder.requires_grad_(False)
        self.attention_scale = attention_scale
        p = backbone.patch_size
        self.test_stride = int(test_stride) or p
        if not 1 <= self.test_stride <= p:
            raise ValueError(f"MODEL.PACL.TEST_STRIDE must be in [1, {p}] (the patch size) or 0, got {test_stride}")

    @classmethod
    def from_config(cls, cfg):
        p = cfg.MODEL.PACL
        clip = build_open_clip(p.CLIP_MODEL, p.PRETRAINED, p.MODEL_OVERRIDES)
        backbone, text_encoder = split_open_clip(clip, build_open_clip_tokenizer(p.CLIP_MODEL))
        return {
            "backbone": backbone,
            "text_encoder": text_encoder,
            "vision_embedder": VisionEmbedder(backbone.width, backbone.visual.output_dim),
            "contrast_temperature": p.CONTRAST_TEMPERATURE,
            "max_logit_scale": p.MAX_LOGIT_SCALE,
            "attention_scale": p.PATCH_ATTENTION_SCALE,
            "test_stride": p.TEST_STRIDE,
            "freeze_vision": p.FREEZE_VISION,
            "freeze_text": p.FREEZE_TEXT,
            "templates": p.TEMPLATES,
            **inference_options(cfg),
        }

    def encode_patches(self, images, stride=None):
        """images: (B, 3, H, W) normalised -> ((B, N, D) patch embeddings e_v(x_i), grid (h, w))."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_vision):
            tokens, grid = self.backbone(images, stride=stride)
        return self.vision_embedder(tokens), grid

    def encode_text(self, tokens):
        """(N, L) ids -> (N, D) un-normalised text embeddings."""
        return self.text_encoder(tokens.to(self.device))

    def forward(self, batched_inputs):
        if self.training:
            return self.losses(batched_inputs)
        return [self.semantic_inference(x) for x in batched_inputs]

    def losses(self, batched_inputs):
        patch_emb, _ = self.encode_patches(self.training_images(batched_inputs))
        text_emb = self.encode_text(caption_tokens(batched_inputs, self.text_encoder))
        return {"loss_pacl": patch_text_contrastive_loss(patch_emb, text_emb, self.scale(), self.attention_scale)}

    # ----------------------------------------------------------------------------------------
    # Zero-shot inference
    # ----------------------------------------------------------------------------------------
    def segment_crops(self, crops, class_emb, background_threshold):
        """(n, 3, h, w) normalised crops -> (n, C[+1], h, w) class probabilities, from the patch-text
        similarity at the test stride."""
        h, w = crops.shape[-2:]
        p = self.backbone.patch_size
        if h < p or w < p:
            raise ValueError(f"A {h}x{w} crop is smaller than one {p}x{p} patch")
        patch_emb, grid = self.encode_patches(crops, stride=self.test_stride)
        return patch_class_probabilities(patch_emb, grid, class_emb, self.scale(), (h, w), background_threshold)

    @torch.no_grad()
    def semantic_inference(self, sample):
        """One evaluation sample -> {"sem_seg": (C, height, width) class probabilities}."""
        class_emb, background_threshold = self.sample_class_embeddings(sample)
        sem_seg = self.segment_sample(sample, lambda crops: self.segment_crops(crops, class_emb, background_threshold))
        return {"sem_seg": sem_seg}

    @torch.no_grad()
    def classify(self, images, dataset_name=None, class_names=None):
        """Zero-shot image classification with the image-level compatibility.

        Args:
            images: (B, 3, H, W) uint8 RGB (e.g. a 224 centre crop), all one size.
            dataset_name or class_names: the classes (a dataset's metadata, or C names).

        Returns:
            (B, C) compatibilities phi(image, class) (unscaled, in [-1, 1]); the argmax is the
            predicted class. Datasets with a background class leave it out (it is not embedded).
        """
        class_emb = self.classify_embeddings(dataset_name, class_names)
        patch_emb, _ = self.encode_patches(self.normalize(images))
        return compatibility(patch_emb, class_emb.to(patch_emb.device), self.attention_scale)
