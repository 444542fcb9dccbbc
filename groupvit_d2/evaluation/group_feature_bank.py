"""A bank of training-set final-group features with soft class labels, and its kNN vote (the
visual-grouping oracle of the thesis, sec. 5.4.1)."""
import contextlib
import logging

import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog, MetadataCatalog, build_detection_test_loader
from detectron2.data import transforms as T
from detectron2.evaluation.evaluator import inference_context
from detectron2.utils import comm
from PIL import Image

from ..data.dataset_mappers.zero_shot_semseg_mapper import ZeroShotSemSegDatasetMapper
from .final_groups import FinalGroups

__all__ = [
    "GroupFeatureBank",
    "group_class_counts",
    "collect_group_features",
    "build_group_feature_bank",
    "background_class",
    "default_bank_mapper",
    "BANK_FORMS",
]

# TEST.KNN_BANK_FORM: "windows" takes one feature per final group per sliding window and drops
# groups that own no labelled pixel; "thesis" takes every final group of every whole image (8 per
# image for the released model, as the thesis's bank of 11,592 features for 1,449 images), the
# empty ones with an all-zero soft label.
BANK_FORMS = ("windows", "thesis")

logger = logging.getLogger(__name__)


def background_class(metadata):
    """0 for datasets whose class 0 is a thresholded background (metadata.background_threshold
    set), else None."""
    return 0 if getattr(metadata, "background_threshold", None) is not None else None


def group_class_counts(group_ids, labels, num_groups, num_classes, ignore_label):
    """Pixels of each class inside each group.

    Args:
        group_ids: (H, W) integer group of every pixel.
        labels: (H, W) integer ground-truth class of every pixel; `ignore_label` pixels are skipped.
        num_groups, num_classes: G and C.

    Returns:
        (G, C) int64 counts.
    """
    if group_ids.shape != labels.shape:
        raise ValueError(f"group map {tuple(group_ids.shape)} and label map {tuple(labels.shape)} differ in size")
    group_ids = group_ids.reshape(-1).long()
    labels = labels.reshape(-1).long().to(group_ids.device)
    keep = labels != ignore_label
    group_ids, labels = group_ids[keep], labels[keep]
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"label values must lie in [0, {num_classes}) or be the ignore label {ignore_label}; "
            f"found {int(labels.min())}..{int(labels.max())}"
        )
    flat = torch.bincount(group_ids * num_classes + labels, minlength=num_groups * num_classes)
    return flat.view(num_groups, num_classes)


class GroupFeatureBank:
    """L2-normalised features (M, D) with soft labels (M, C) (class fractions, rows sum to 1)."""

    def __init__(self, features, soft_labels):
        if features.dim() != 2 or soft_labels.dim() != 2 or features.shape[0] != soft_labels.shape[0]:
            raise ValueError(
                f"GroupFeatureBank: expected features (M, D) and soft_labels (M, C), got "
                f"{tuple(features.shape)} and {tuple(soft_labels.shape)}"
            )
        self.features = F.normalize(features.float(), dim=-1)
        self.soft_labels = soft_labels.float()

    def __len__(self):
        return self.features.shape[0]

    @property
    def num_classes(self):
        return self.soft_labels.shape[1]

    @property
    def categories(self):
        """(M,) majority class of every feature."""
        return self.soft_labels.argmax(dim=1)

    @classmethod
    def from_counts(cls, features, counts, *, max_per_class=1000, ignore_classes=(), seed=0, keep_empty=False):
        """Soft labels from per-group pixel counts, keeping at most `max_per_class` features of each
        majority class (a seeded random subset, so that no category dominates the vote).

        Args:
            features: (M, D) group features.
            counts: (M, C) pixels of each class in each group.
            max_per_class: cap per majority class (<= 0: no cap).
            ignore_classes: classes whose pixels do not count (e.g. the background, for the oracle
                without background).
            keep_empty: keep the groups left with no pixel, with an all-zero soft label (they have
                no majority class and count toward no cap); False drops them.
        """
        counts = counts.double().clone()
        for c in ignore_classes:
            counts[:, c] = 0
        total = counts.sum(dim=1)
        labelled = total > 0
        if not keep_empty:
            features, counts, total = features[labelled], counts[labelled], total[labelled]
            labelled = labelled[labelled]
        soft = (counts / total.clamp(min=1)[:, None]).float()
        if max_per_class > 0 and len(soft):
            generator = torch.Generator().manual_seed(seed)
            order = torch.randperm(len(soft), generator=generator)
            # Empty groups form their own category (-1), which has no cap.
            categories = torch.where(labelled, soft.argmax(dim=1), -1)[order]
            # Rank of each (shuffled) feature within its category: keep the first max_per_class.
            rank = torch.zeros_like(categories)
            for c in categories.unique():
                members = categories == c
                rank[members] = 0 if c < 0 else torch.arange(int(members.sum()))
            chosen = order[rank < max_per_class].sort().values
            features, soft = features[chosen], soft[chosen]
        return cls(features, soft)

    def vote(self, queries, k):
        """(Q, D) queries -> (Q, C): the mean soft label of each query's k nearest bank features
        (cosine similarity; k is capped at the bank size)."""
        if len(self) == 0:
            raise ValueError("The group feature bank is empty: its dataset has no labelled group")
        if int(k) < 1:
            raise ValueError(f"TEST.KNN_K must be >= 1, got {k}")
        if queries.shape[-1] != self.features.shape[1]:
            raise ValueError(
                f"query features have {queries.shape[-1]} dimensions, the bank {self.features.shape[1]}"
            )
        if self.features.device != queries.device:
            # Moved once: the oracle queries the bank for every window of every image.
            self.features, self.soft_labels = self.features.to(queries.device), self.soft_labels.to(queries.device)
        similarity = F.normalize(queries.float(), dim=-1) @ self.features.t()
        nearest = similarity.topk(min(int(k), len(self)), dim=1).indices
        return self.soft_labels[nearest].mean(dim=1)

    def predict(self, queries, k):
        """(Q, D) queries -> (Q,) argmax of `vote`."""
        return self.vote(queries, k).argmax(dim=1)

    def state_dict(self):
        return {"features": self.features, "soft_labels": self.soft_labels}

    @classmethod
    def load(cls, path):
        """Read a bank written with torch.save(bank.state_dict(), path) (tensors only)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or set(state) != {"features", "soft_labels"}:
            raise ValueError(f"{path} is not a group feature bank: expected the keys 'features' and 'soft_labels'")
        return cls(state["features"], state["soft_labels"])


def check_bank_form(form):
    if form not in BANK_FORMS:
        raise ValueError(f"TEST.KNN_BANK_FORM must be one of {BANK_FORMS}, got {form!r}")
    return form


def _resize_labels(labels, size):
    """(H, W) labels -> nearest-neighbour resize to `size` (the evaluation size of the image)."""
    if tuple(labels.shape) == tuple(size):
        return labels
    return F.interpolate(labels[None, None].float(), size=tuple(size), mode="nearest")[0, 0].long()


def collect_group_features(groups, dataset_name, mapper, num_workers=0, max_images=0, keep_empty=False):
    """Final-group features and per-class pixel counts over a labelled dataset.

    Every process reads its share of the dataset; the result is gathered on all of them.

    Args:
        groups: a FinalGroups (or an object with its `normalize`, `windows` and call).
        dataset_name: a registered sem-seg dataset (records with "sem_seg_file_name").
        mapper: returns "image" (3, H', W') and "sem_seg" (H, W) at the original size
            (ZeroShotSemSegDatasetMapper with load_sem_seg=True); labels are resized to (H', W')
            by nearest neighbour.
        max_images: read only the dataset's first `max_images` records (0: all of them).
        keep_empty: also return the groups that own no labelled pixel (all-zero counts).

    Returns:
        (features (M, D), counts (M, C) int64), on the CPU: one row per group of each window (with
        labelled pixels, unless `keep_empty`).
    """
    metadata = MetadataCatalog.get(dataset_name)
    num_classes = len(metadata.stuff_classes)
    ignore_label = metadata.ignore_label
    max_images = int(max_images)
    if max_images < 0:
        raise ValueError(f"TEST.KNN_BANK_MAX_IMAGES must be >= 0 (0: every image), got {max_images}")
    records = DatasetCatalog.get(dataset_name)
    records = records[:max_images] if max_images else records
    loader = build_detection_test_loader(records, mapper=mapper, num_workers=num_workers)
    features, counts = [], []
    for batch in loader:
        for sample in batch:
            if "sem_seg" not in sample:
                raise ValueError(
                    f"The mapper of the feature bank of {dataset_name!r} must return the labels "
                    "('sem_seg'); build it with load_sem_seg=True"
                )
            image = groups.normalize(sample["image"])
            labels = _resize_labels(torch.as_tensor(sample["sem_seg"]), image.shape[-2:])
            for y1, y2, x1, x2 in groups.windows(*image.shape[-2:]):
                feats, onehot = groups(image[..., y1:y2, x1:x2])
                window_counts = group_class_counts(
                    onehot[0].argmax(dim=0).cpu(), labels[y1:y2, x1:x2], onehot.shape[1], num_classes, ignore_label
                )
                labelled = window_counts.sum(dim=1) > 0
                if keep_empty:
                    labelled[:] = True
                features.append(feats[0][labelled].cpu())
                counts.append(window_counts[labelled])
    gathered = comm.all_gather((features, counts))
    features = [f for part, _ in gathered for f in part]
    counts = [c for _, part in gathered for c in part]
    if not features:
        raise ValueError(f"Dataset {dataset_name!r} gave no labelled group for the feature bank")
    return torch.cat(features), torch.cat(counts)


def default_bank_mapper(min_size=448, max_size=2048):
    """The zero-shot evaluation resize (short side `min_size`, long side at most `max_size`), with labels."""
    return ZeroShotSemSegDatasetMapper(
        augmentations=[T.ResizeShortestEdge(min_size, max_size, sample_style="choice", interp=Image.BILINEAR)],
        load_sem_seg=True,
    )


def build_group_feature_bank(model, dataset_name, *, max_per_class=1000, include_background=True,
                             feature="tokens", mapper=None, num_workers=0, seed=0, groups=None, form="windows"):
    """The kNN bank of the visual-grouping oracle, built from a registered training sem-seg set.

    Each final group of each training image (window) becomes one feature (final group tokens or
    projected group embeddings, L2-normalised) whose soft label is the fraction of its pixels (the
    argmax group map) in each ground-truth class; at most `max_per_class` features are kept per
    majority class. `form` is one of BANK_FORMS: "windows" cuts the images into the model's
    sliding windows and drops empty groups, "thesis" takes whole images and keeps every group.

    Args:
        model: a GroupViT (or a SemanticSegmentor on the GroupViT backbone); put in eval mode here.
        dataset_name: e.g. "synthetic_train_seg".
        include_background: False drops the background pixels from the soft labels (and groups
            with only background), for the oracle without background.
        mapper: see collect_group_features; default: the zero-shot evaluation resize (448, 2048).
        groups: a FinalGroups replacing the one made from `model`.

    Returns:
        GroupFeatureBank with soft labels over all C classes of the dataset.
    """
    check_bank_form(form)
    thesis = form == "thesis"
    groups = groups if groups is not None else FinalGroups.from_model(model, feature, whole_image=thesis)
    mapper = mapper if mapper is not None else default_bank_mapper()
    with inference_context(getattr(model, "module", model)) if model is not None else contextlib.nullcontext():
        features, counts = collect_group_features(groups, dataset_name, mapper, num_workers, keep_empty=thesis)
    background = background_class(MetadataCatalog.get(dataset_name))
    ignore = () if include_background or background is None else (background,)
    bank = GroupFeatureBank.from_counts(features, counts, max_per_class=max_per_class, ignore_classes=ignore,
                                        seed=seed, keep_empty=thesis)
    logger.info("Group feature bank of %s: %d features, %d per class at most", dataset_name, len(bank),
                max_per_class)
    return bank

