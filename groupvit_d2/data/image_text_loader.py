"""The training DataLoader of image-text pairs: webdataset shards or registered caption datasets."""

import logging

import torch
from detectron2.data import build_detection_train_loader, get_detection_dataset_dicts
from detectron2.data.build import trivial_batch_collator, worker_init_reset_seed
from detectron2.utils import comm
from torch.utils.data import DataLoader

from .dataset_mappers.image_text_mapper import ImageTextDatasetMapper
from .image_text_dataset import ImageTextWebDataset
from .resumable_sampler import ResumableTrainingSampler

__all__ = ["build_image_text_train_loader"]

logger = logging.getLogger(__name__)


def build_image_text_train_loader(cfg, mapper=None):
    """
    An endless training DataLoader of image-text batches for this process.

    Reads cfg.DATASETS.IMAGE_TEXT.SHARDS (webdataset, see ImageTextWebDataset) or, when no shards
    are given, the registered caption datasets cfg.DATASETS.IMAGE_TEXT.NAMES (through Detectron2's
    build_detection_train_loader). Each batch is a list of cfg.SOLVER.IMS_PER_BATCH // world_size
    mapper outputs (see ImageTextDatasetMapper).

    Args:
        mapper: callable applied to each sample; default ImageTextDatasetMapper(cfg, is_train=True).
    """
    d = cfg.DATASETS.IMAGE_TEXT
    if d.SHARDS and d.NAMES:
        raise ValueError(
            f"Set either DATASETS.IMAGE_TEXT.SHARDS ({list(d.SHARDS)}) or DATASETS.IMAGE_TEXT.NAMES "
            f"({list(d.NAMES)}), not both"
        )
    if not d.SHARDS and not d.NAMES:
        raise ValueError(
            "No image-text training data: set DATASETS.IMAGE_TEXT.SHARDS (webdataset shard patterns) "
            "or DATASETS.IMAGE_TEXT.NAMES (registered caption datasets, e.g. coco_captions_train2017)"
        )
    world_size = comm.get_world_size()
    total = cfg.SOLVER.IMS_PER_BATCH
    if total <= 0 or total % world_size != 0:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH={total} must be a positive multiple of the {world_size} processes"
        )
    if mapper is None:
        mapper = ImageTextDatasetMapper(cfg, is_train=True)
    num_workers = cfg.DATALOADER.NUM_WORKERS

    if d.NAMES:
        dicts = get_detection_dataset_dicts(list(d.NAMES), filter_empty=False)
        return build_detection_train_loader(
            dataset=dicts,
            mapper=mapper,
            # Detectron2's sampler, able to continue where an interrupted run stopped (--resume).
            sampler=ResumableTrainingSampler(len(dicts)),
            seed=_loader_seed(cfg),
            total_batch_size=total,
            aspect_ratio_grouping=False,
            num_workers=num_workers,
        )

    dataset = ImageTextWebDataset(cfg, mapper=mapper, infinite=True)
    logger.info(
        "Image-text shards: %s corpora, %d shards, weights %s, %d samples per epoch (%d per process)",
        len(dataset.corpora),
        sum(map(len, dataset.corpora)),
        dataset.weights,
        dataset.epoch_length,
        dataset.samples_per_rank,
    )
    return DataLoader(
        dataset,
        batch_size=total // world_size,
        num_workers=num_workers,
        collate_fn=trivial_batch_collator,
        worker_init_fn=worker_init_reset_seed,
        drop_last=True,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(_loader_seed(cfg)),
    )


def _loader_seed(cfg):
    # Starting the DataLoader draws its workers' base seed from this generator instead of torch's
    # global one, which a resumed run must find exactly as the interrupted run left it.
    return cfg.SEED + comm.get_rank() if cfg.SEED >= 0 else int(torch.randint(2**31 - 1, ()).item())
