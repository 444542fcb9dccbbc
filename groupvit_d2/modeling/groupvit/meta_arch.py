"""GroupViT as a Detectron2 meta-architecture: dual encoder, contrastive training, zero-shot
semantic segmentation (docs/DESIGN.md sections 1-3)."""
import logging

import torch
import torch.nn as nn
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from timm.data.random_erasing import RandomErasing

from ...data.text import build_tokenizer, parse_vocabulary_entries
from ..core import (
    DualEncoder,
    at_least_float32,
    freeze_except,
    freeze_norm_statistics,
    image_text_contrastive_loss,
    inference_options,
)
from .grouping_health import grouping_health
from .losses import (
    MULTI_LABEL_FORMS,
    MULTI_LABEL_MATCHES,
    SEGMENT_AFFINITY_FORMS,
    group_entropy_loss,
    label_entropy_loss,
    multi_label_contrastive_loss,
    same_label_positives,
    segment_entropy_loss,
    segment_label_affinity,
)
from .projector import ProjectMLP
from .text_encoder import TextTransformer
from .zero_shot import (
    GROUPING_METHODS,
    argmax_groups,
    cluster_mean_tokens,
    cluster_patches,
    cumulative_group_maps,
    finalize_group_canvas,
    group_class_affinity,
    group_class_table,
    lookup_group_scores,
    sliding_window_group_inference,
    upsample_group_maps,
)

logger = logging.getLogger(__name__)


@META_ARCH_REGISTRY.register()
class GroupViT(DualEncoder):
    """GroupViT: a grouping image encoder and a text transformer trained with image-text
    contrastive losses.

    Training input (a list of dicts, one per image):
        "image": (3, H, W) uint8 RGB tensor; "text": (1 + K, L) token ids (the caption, then K
        prompted labels) or (L,); optionally "label_mask": (K,) bool, False for PAD labels, and
        "raw_labels": K strings before prompting (needed by the non-noisy multi-label loss).
    Training output: {"loss_contrastive", "loss_multi_label"} and, when their weights are > 0, the
    thesis regularisers {"loss_group_entropy", "loss_label_entropy", "loss_segment_entropy"}, each
    already weighted.
    With `trainable_patterns`, only the matching parameters train (see `freeze_except`).

    Inference input: "image" (3, H, W) resized for evaluation, "height"/"width" (original size) and
    either "dataset_name" (class names from its metadata) or a configured vocabulary. A sample may
    instead carry its own vocabulary: "class_names" (C entries, each a name, comma-separated
    synonyms or a list of synonyms) and optionally "background_threshold" (a float: a thresholded
    background is prepended as class 0); it wins over both.
    Inference output: [{"sem_seg": (C, height, width) class probabilities}].
    Samples with neither a dataset name nor a vocabulary get their embeddings instead (see
    `inference_embeddings`).
    """

    @configurable
    def __init__(self, *, backbone, text_encoder, img_projector, text_projector, share_temperature=False,
                 contrastive_weight=1.0, multi_label_weight=1.0, multi_label_form="paper", multi_label_match="image",
                 multi_label_own_group_negatives=False,
                 group_entropy_weight=0.0, label_entropy_weight=0.0, segment_entropy_weight=0.0,
                 segment_entropy_inner_weights=(0.2, 0.1), segment_affinity="scaled_cosine",
                 non_noisy=False, trainable_patterns=(), random_erasing=0.0, context_length=77, topk=5,
                 default_background_threshold=0.95, vocabulary=(), vocabulary_has_background=False,
                 grouping="groups", num_clusters=8, **dual_encoder_args):
        """`dual_encoder_args`: DualEncoder's (pixel statistics, temperature, prompts, sliding
        window, precision, class-embedding cache)."""
        super().__init__(**dual_encoder_args)
        self.backbone = backbone
        self.text_encoder = text_encoder
        self.img_projector = img_projector
        self.text_projector = text_projector
        self.multi_label_logit_scale = None if share_temperature else nn.Parameter(self.logit_scale.detach().clone())
        self.contrastive_weight = contrastive_weight
        self.multi_label_weight = multi_label_weight
        if multi_label_form not in MULTI_LABEL_FORMS:
            raise ValueError(f"MODEL.GROUPVIT.LOSS.MULTI_LABEL_FORM must be one of {MULTI_LABEL_FORMS}, got {multi_label_form!r}")
        self.multi_label_form = multi_label_form
        if multi_label_match not in MULTI_LABEL_MATCHES:
            raise ValueError(
                f"MODEL.GROUPVIT.LOSS.MULTI_LABEL_MATCH must be one of {MULTI_LABEL_MATCHES}, got {multi_label_match!r}"
            )
        self.multi_label_match = multi_label_match
        if multi_label_own_group_negatives and multi_label_match != "best_group":
            raise ValueError("MODEL.GROUPVIT.LOSS.MULTI_LABEL_OWN_GROUP_NEGATIVES needs MULTI_LABEL_MATCH 'best_group', "
                             f"got {multi_label_match!r}")
        self.multi_label_own_group_negatives = multi_label_own_group_negatives
        self.group_entropy_weight = group_entropy_weight
        self.label_entropy_weight = label_entropy_weight
        self.segment_entropy_weight = segment_entropy_weight
        self.segment_entropy_inner_weights = tuple(segment_entropy_inner_weights)
        if segment_affinity not in SEGMENT_AFFINITY_FORMS:
            raise ValueError(
                f"MODEL.GROUPVIT.LOSS.SEGMENT_AFFINITY must be one of {SEGMENT_AFFINITY_FORMS}, "
                f"got {segment_affinity!r}"
            )
        self.segment_affinity = segment_affinity
        self.non_noisy = non_noisy
        # Applied to the normalised batch, as timm does after normalisation in the official pipeline.
        self.random_erasing = (
            RandomErasing(probability=random_erasing, mode="pixel", device="cpu") if random_erasing > 0 else None
        )

        self.tokenizer = build_tokenizer(context_length)
        self.topk = topk
        self.default_background_threshold = default_background_threshold
        # Lists of synonyms, one per class, in the `;`/`,` syntax of parse_vocabulary_entries.
        self.vocabulary = (parse_vocabulary_entries(vocabulary, "MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY",
                                                    vocabulary_has_background) if len(vocabulary) else [])
        self.vocabulary_has_background = vocabulary_has_background
        if grouping not in GROUPING_METHODS:
            raise ValueError(f"MODEL.GROUPVIT.ZERO_SHOT.GROUPING must be one of {GROUPING_METHODS}, got {grouping!r}")
        if int(num_clusters) < 1:
            raise ValueError(f"MODEL.GROUPVIT.ZERO_SHOT.NUM_CLUSTERS must be >= 1, got {num_clusters}")
        self.grouping = grouping
        self.num_clusters = int(num_clusters)
        # At construction, as Detectron2 applies MODEL.BACKBONE.FREEZE_AT: every model built from
        # the cfg (training, evaluation, tests) has the same trainable set, before any optimizer or
        # DistributedDataParallel wrapper is made from it.
        self.freeze_summary = freeze_except(self, trainable_patterns)

    @classmethod
    def from_config(cls, cfg):
        g = cfg.MODEL.GROUPVIT
        backbone = build_backbone(cfg)
        text_encoder = TextTransformer(cfg)
        return {
            "backbone": backbone,
            "text_encoder": text_encoder,
            "img_projector": ProjectMLP(g.EMBED_DIM, g.PROJECTION_INTERMEDIATE_DIM, g.PROJECTION_DIM,
                                        g.PROJECTION_NUM_LAYERS),
            "text_projector": ProjectMLP(text_encoder.width, g.PROJECTION_INTERMEDIATE_DIM, g.PROJECTION_DIM,
                                         g.PROJECTION_NUM_LAYERS),
            "contrast_temperature": g.CONTRAST_TEMPERATURE,
            "max_logit_scale": g.MAX_LOGIT_SCALE,
            "share_temperature": g.LOSS.SHARE_TEMPERATURE,
            "contrastive_weight": g.LOSS.CONTRASTIVE_WEIGHT,
            "multi_label_weight": g.LOSS.MULTI_LABEL_WEIGHT,
            "multi_label_form": g.LOSS.MULTI_LABEL_FORM,
            "multi_label_match": g.LOSS.MULTI_LABEL_MATCH,
            "multi_label_own_group_negatives": g.LOSS.MULTI_LABEL_OWN_GROUP_NEGATIVES,
            "group_entropy_weight": g.LOSS.GROUP_ENTROPY_WEIGHT,
            "label_entropy_weight": g.LOSS.LABEL_ENTROPY_WEIGHT,
            "segment_entropy_weight": g.LOSS.SEGMENT_ENTROPY_WEIGHT,
            "segment_entropy_inner_weights": (g.LOSS.SEGMENT_ENTROPY_GROUP_WEIGHT, g.LOSS.SEGMENT_ENTROPY_LABEL_WEIGHT),
            "segment_affinity": g.LOSS.SEGMENT_AFFINITY,
            "non_noisy": g.LOSS.NON_NOISY,
            "trainable_patterns": tuple(cfg.SOLVER.TRAINABLE_PATTERNS),
            "random_erasing": cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING,
            "context_length": g.TEXT.CONTEXT_LENGTH,
            "templates": g.ZERO_SHOT.TEMPLATES,
            "topk": g.ZERO_SHOT.TOPK,
            "default_background_threshold": g.ZERO_SHOT.BG_THRESH,
            "vocabulary": g.ZERO_SHOT.VOCABULARY,
            "vocabulary_has_background": g.ZERO_SHOT.VOCABULARY_HAS_BACKGROUND,
            **inference_options(cfg),
            "grouping": g.ZERO_SHOT.GROUPING,
            "num_clusters": g.ZERO_SHOT.NUM_CLUSTERS,
        }

    def train(self, mode=True):
        super().train(mode)
        if mode:
            # Frozen parts keep their pretrained BatchNorm statistics.
            freeze_norm_statistics(self)
        return self

    # ----------------------------------------------------------------------------------------
    # Encoders
    # ----------------------------------------------------------------------------------------
    def scale(self, multi_label=False):
        """min(exp(logit scale), max): the clamped temperature scale (a 0-d tensor)."""
        p = self.multi_label_logit_scale if (multi_label and self.multi_label_logit_scale is not None) else self.logit_scale
        return p.exp().clamp(max=self.max_logit_scale)

    def encode_image(self, images):
        """images: (B, 3, H, W) normalised, of any size (see encode_any_size). Returns a dict with
        "image_embeds" (B, D) and "group_embeds" (B, G, D), both projected and un-normalised, and
        "vision" (the backbone's GroupViTVisionOutput: tokens, assignments, grid)."""
        vision = self.backbone.encode_any_size(images)
        # The encoder's grouped stages already left autocast (see GroupViTImageEncoder.encode); the
        # projector's few tokens carry the class decisions too.
        with torch.autocast(images.device.type, enabled=False):
            return {
                "image_embeds": self.img_projector(at_least_float32(vision.pooled)),
                "group_embeds": self.img_projector(at_least_float32(vision.tokens)),
                "vision": vision,
            }

    def encode_text(self, tokens):
        """tokens: (N, L) ids -> (N, D) projected, un-normalised text embeddings."""
        return self.text_projector(self.text_encoder(tokens.to(self.device)))

    # ----------------------------------------------------------------------------------------
    # Training
    # ----------------------------------------------------------------------------------------
    def forward(self, batched_inputs):
        if self.training:
            return self.losses(batched_inputs)
        if self._has_classes(batched_inputs[0]):
            return self.semantic_inference_batch(batched_inputs)
        return self.inference_embeddings(batched_inputs)

    def losses(self, batched_inputs):
        images = self.training_images(batched_inputs)
        if self.random_erasing is not None:
            self.random_erasing.device = images.device
            images = self.random_erasing(images)
        texts = [x["text"] if x["text"].dim() == 2 else x["text"][None] for x in batched_inputs]
        num_texts = {t.shape[0] for t in texts}
        if len(num_texts) != 1:
            raise ValueError(f"Every sample must carry the same number of texts (1 + K), got {sorted(num_texts)}")
        tokens = torch.stack(texts).to(self.device)  # (B, 1 + K, L)
        B, T, L = tokens.shape
        K = T - 1
        valid = torch.ones(B, T, dtype=torch.bool, device=self.device)
        if K > 0 and "label_mask" in batched_inputs[0]:
            valid[:, 1:] = torch.stack([x["label_mask"] for x in batched_inputs]).to(self.device)

        vision = self.backbone.encode(images)
        # Read by GroupingHealthHook: a collapsed grouping shows in no loss.
        self.last_grouping_health = grouping_health(vision)
        # Only the pooled feature goes through the image projector, as in the official training
        # forward: projecting the group tokens here too would feed them to its BatchNorm statistics.
        # Labels matched to groups need the groups projected; then one call projects both, so that
        # the BatchNorm statistics are updated once a step.
        group_embeds = None
        if self.multi_label_match == "best_group" and K > 0 and self.multi_label_weight > 0:
            # Without a grouping stage (a plain ViT) every final patch token is a group.
            projected = self.img_projector(torch.cat([vision.pooled[:, None], vision.tokens], dim=1))
            image_embeds, group_embeds = projected[:, 0], projected[:, 1:]
        else:
            image_embeds = self.img_projector(vision.pooled)
        # Caption and prompts go through one projector call, so BatchNorm sees all real texts
        # together, as in the official code; PAD labels are left out of it entirely.
        flat_valid = valid.flatten()
        text_embeds = image_embeds.new_zeros(B * T, image_embeds.shape[-1])
        text_embeds[flat_valid] = self.encode_text(tokens.flatten(0, 1)[flat_valid]).to(text_embeds.dtype)
        text_embeds = text_embeds.view(B, T, -1)

        losses = {
            "loss_contrastive": self.contrastive_weight
            * image_text_contrastive_loss(image_embeds, text_embeds[:, 0], self.scale()),
        }
        if K > 0 and self.multi_label_weight > 0:
            positives = text_positives = None
            if self.non_noisy:
                positives, text_positives = same_label_positives(
                    self._raw_labels(batched_inputs, K), valid[:, 1:], device=self.device
                )
            losses["loss_multi_label"] = self.multi_label_weight * multi_label_contrastive_loss(
                image_embeds if group_embeds is None else group_embeds, text_embeds[:, 1:],
                self.scale(multi_label=True), label_mask=valid[:, 1:], form=self.multi_label_form,
                positives=positives, text_positives=text_positives, global_negatives=not self.non_noisy,
                group_mask=None if group_embeds is None else vision.occupied_groups(),
                own_group_negatives=self.multi_label_own_group_negatives,
            )
        losses.update(self.entropy_losses(vision, text_embeds[:, 1:], valid[:, 1:], group_embeds))
        return losses

    @staticmethod
    def _raw_labels(batched_inputs, num_labels):
        raw = [x.get("raw_labels") for x in batched_inputs]
        if any(r is None or len(r) != num_labels for r in raw):
            raise ValueError(
                "MODEL.GROUPVIT.LOSS.NON_NOISY needs every training sample to carry \"raw_labels\": its "
                f"{num_labels} labels before prompting (ImageTextDatasetMapper adds them)"
            )
        return raw

    def entropy_losses(self, vision, label_embeds, label_mask, group_embeds=None):
        """The thesis regularisers whose weights are > 0 (sec. 4.5), each weighted.

        Args:
            vision: the backbone's GroupViTVisionOutput of the batch.
            label_embeds: (B, K, D) projected label embeddings (zeros on PAD labels).
            label_mask: (B, K) bool, False on PAD labels.
            group_embeds: (B, G, D) the final groups already projected this step, or None.

        Returns:
            dict with "loss_group_entropy", "loss_label_entropy", "loss_segment_entropy" (those
            enabled).
        """
        out = {}
        needs_labels = self.label_entropy_weight > 0 or self.segment_entropy_weight > 0
        if self.group_entropy_weight <= 0 and not needs_labels:
            return out
        # Attn^T: the noise-free soft assignments chained to the final groups, as at inference.
        patch_to_group = vision.patch_to_group()
        if patch_to_group is None:
            raise ValueError("The entropy regularisers need a backbone with at least one grouping stage")
        if self.group_entropy_weight > 0:
            out["loss_group_entropy"] = self.group_entropy_weight * group_entropy_loss(patch_to_group)
        if needs_labels:
            if label_embeds.shape[1] == 0:
                raise ValueError(
                    "MODEL.GROUPVIT.LOSS.LABEL_ENTROPY_WEIGHT / SEGMENT_ENTROPY_WEIGHT need labels: set "
                    "INPUT.IMAGE_TEXT.NUM_LABELS > 0"
                )
            # "scaled_cosine": the group-class affinity of zero-shot inference (normalised, times the
            # clamped logit scale). The scale is detached: sharpening the temperature would lower
            # every entropy without changing groups or embeddings. "dot": eq. 30 as written.
            if group_embeds is None:
                group_embeds = self.img_projector(vision.tokens)
            affinity = segment_label_affinity(
                group_embeds, label_embeds, self.scale().detach(), label_mask,
                form=self.segment_affinity,
            )
            if self.label_entropy_weight > 0:
                out["loss_label_entropy"] = self.label_entropy_weight * label_entropy_loss(
                    patch_to_group, affinity, label_mask
                )
            if self.segment_entropy_weight > 0:
                group_weight, label_weight = self.segment_entropy_inner_weights
                out["loss_segment_entropy"] = self.segment_entropy_weight * segment_entropy_loss(
                    affinity, label_mask, group_weight, label_weight
                )
        return out

    # ----------------------------------------------------------------------------------------
    # Zero-shot inference
    # ----------------------------------------------------------------------------------------
    def _has_classes(self, sample):
        return bool(self.vocabulary) or "dataset_name" in sample or "class_names" in sample

    def configured_vocabulary(self):
        """MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY (without its background entry) and, when it has one,
        ZERO_SHOT.BG_THRESH; None when no vocabulary is configured."""
        if not self.vocabulary:
            return None
        if self.vocabulary_has_background:
            return self.vocabulary[1:], self.default_background_threshold
        return self.vocabulary, None

    def crop_groups(self, crops, class_emb, background_threshold):
        """crop_group_sources, one (group ids, group table) pair a crop."""
        ids, tables = [], []
        for source_ids, source_tables in self.crop_group_sources(crops, class_emb, background_threshold):
            ids.append(source_ids)
            tables.extend(source_tables)
        return torch.cat(ids), tables

    def crop_group_sources(self, crops, class_emb, background_threshold):
        """Each crop pixel's group and each group's class scores, for normalised crops (n, 3, h, w).

        Returns:
            A list of (ids, tables) pairs, one for the whole batch with the learned groups and one a
            crop with non-parametric groupings (whose number of groups differs from crop to crop):
            ids: (b, h, w) int64, the argmax group of each pixel of the soft patch-to-group map
                upsampled to the crop (first maximal group on ties);
            tables: (b, G, C[+1]), each group's class scores (group_class_table; the background,
                when background_threshold is not None, as column 0).

        Crops whose size the patch size does not divide lose their last rows/columns in the
        encoder, as the official strided convolution does; the maps are upsampled to the full crop.
        """
        h, w = crops.shape[-2:]
        out = self.encode_image(crops)
        # Under autocast only the encoder runs in reduced precision. What follows takes argmax
        # decisions (each pixel's group, the image's top-k classes, the background threshold) that
        # bf16 rounding flips, at a small cost, so it runs in fp32.
        with torch.autocast(crops.device.type, enabled=False):
            out = at_least_float32(out)
            vision = out["vision"]
            # ---- The assignment source (MODEL.GROUPVIT.ZERO_SHOT.GROUPING); the rest is shared. ----
            if self.grouping == "groups" and vision.soft_assignments:
                groups = [(cumulative_group_maps(vision.soft_assignments)[-1], out["group_embeds"],
                           out["image_embeds"])]
            else:
                # Non-parametric groups (paper Table 4): their number differs from crop to crop.
                groups = [(maps, embeds, out["image_embeds"][i : i + 1])
                          for i, (maps, embeds) in enumerate(self.nonparametric_groups(vision))]
            # -----------------------------------------------------------------------------------
            sources = []
            for maps, group_embeds, image_embeds in groups:
                ids = argmax_groups(upsample_group_maps(maps, vision.grid, (h, w)))
                affinity = group_class_affinity(group_embeds, image_embeds, class_emb, self.scale(), self.topk)
                sources.append((ids, group_class_table(affinity.float(), background_threshold)))
            return sources

    def segment_crops(self, crops, class_emb, background_threshold):
        """Per-crop class scores (n, C[+1], h, w) for normalised crops (n, 3, h, w):
        each pixel's group's row of its group table (crop_group_sources)."""
        # Batched over the crops, so an exported graph keeps the number of windows dynamic.
        return torch.cat([lookup_group_scores(ids, tables)
                          for ids, tables in self.crop_group_sources(crops, class_emb, background_threshold)])

    def segment_images(self, samples, class_emb, background_threshold):
        """The (C[+1], height, width) class probabilities of samples of one image size sharing a
        vocabulary: their windows are encoded together (TEST.SLIDING_WINDOW.MAX_BATCH crops a call),
        and the per-group scores are summed, upsampled and turned into probabilities without a
        C x H x W tensor other than the output (see group_lookup)."""
        images = torch.cat([self.normalize(s["image"][None]) for s in samples])
        height, width = images.shape[-2:]
        crop, stride = (self.crop_size, self.stride) if self.sliding_window else ((height, width), (height, width))
        with self.inference_precision():
            canvases = sliding_window_group_inference(
                images, crop, stride, lambda crops: self.crop_groups(crops, class_emb, background_threshold),
                max_windows_per_batch=self.max_windows_per_batch,
            )
        return [finalize_group_canvas(codes, table, (s.get("height", height), s.get("width", width)))
                for s, (codes, table) in zip(samples, canvases)]

    def nonparametric_groups(self, vision):
        """Groups of the patch tokens by `self.grouping` ("groups" on a model without grouping stages
        is "pixel": a plain ViT's final tokens are its groups), per image of the batch.

        The patch tokens are a plain ViT's final tokens; for GroupViT, those of the first stage
        (the last ones per patch) through the final LayerNorm, the features the projector is fed.
        Each cluster's embedding is its mean token, projected.

        Returns:
            list of B pairs: (1, N, K) one-hot patch-to-cluster map and (1, K, D) cluster embeddings.
        """
        method = "pixel" if self.grouping == "groups" else self.grouping
        tokens = vision.tokens if not vision.soft_assignments else self.backbone.norm(vision.stage_tokens[0])
        groups = []
        for patch_tokens in tokens:
            assignment = cluster_patches(patch_tokens, method, self.num_clusters)
            embeds = self.img_projector(cluster_mean_tokens(assignment, patch_tokens)[None])
            groups.append((assignment.t()[None], embeds))
        return groups

    @torch.no_grad()
    def semantic_inference(self, sample):
        """One evaluation sample -> {"sem_seg": (C, height, width) class probabilities}."""
        return self.semantic_inference_batch([sample])[0]

    @torch.no_grad()
    def semantic_inference_batch(self, samples):
        """semantic_inference of every sample, in order; samples of one image size and vocabulary
        share their encoder calls."""
        batches = {}
        for index, sample in enumerate(samples):
            class_emb, background_threshold = self.sample_class_embeddings(sample)
            # The class cache returns one tensor per vocabulary, so its identity names the vocabulary.
            key = (tuple(sample["image"].shape), id(class_emb), background_threshold)
            batches.setdefault(key, (class_emb, background_threshold, []))[2].append(index)
        results = [None] * len(samples)
        for class_emb, background_threshold, indices in batches.values():
            probs = self.segment_images([samples[i] for i in indices], class_emb, background_threshold)
            for i, sem_seg in zip(indices, probs):
                results[i] = {"sem_seg": sem_seg}
        return results

    @torch.no_grad()
    def group_maps(self, sample):
        """(H, W) argmax group ids of the whole (resized) image: one map per grouping stage of the
        learned grouping; one map of the clusters when the groups are non-parametric
        (MODEL.GROUPVIT.ZERO_SHOT.GROUPING, or a plain ViT, whose groups are its patch tokens)."""
        image = self.normalize(sample["image"][None])
        h, w = image.shape[-2:]
        vision = self.backbone.encode_any_size(image)
        if self.grouping == "groups" and vision.soft_assignments:
            maps = cumulative_group_maps(vision.soft_assignments)
        else:
            maps = [self.nonparametric_groups(vision)[0][0]]
        return [argmax_groups(upsample_group_maps(m, vision.grid, (h, w)))[0] for m in maps]

    @torch.no_grad()
    def inference_embeddings(self, batched_inputs):
        """Embeddings and assignments for each sample: "image_embeds" (D,), "group_embeds" (G, D),
        "soft_assignments"/"hard_assignments" (per stage (G_l, N_l)), and "text_embeds" (T, D) when
        the sample carries "text"."""
        results = []
        for x in batched_inputs:
            out = self.encode_image(self.normalize(x["image"][None]))
            r = {
                "image_embeds": out["image_embeds"][0],
                "group_embeds": out["group_embeds"][0],
                "soft_assignments": [a[0] for a in out["vision"].soft_assignments],
                "hard_assignments": [a[0] for a in out["vision"].hard_assignments],
            }
            if "text" in x:
                text = x["text"] if x["text"].dim() == 2 else x["text"][None]
                r["text_embeds"] = self.encode_text(text)
            results.append(r)
        return results

