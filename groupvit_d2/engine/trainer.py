"""The Detectron2 trainer of groupvit_d2: DefaultTrainer with GroupViT's data, optimizer, learning-rate
schedules, checkpoint formats and zero-shot evaluation. train_net.py runs it; tools that evaluate
checkpoints import it from here."""
import json
import logging
import os
import weakref

import detectron2.utils.comm as comm
from detectron2.data import build_detection_test_loader
from detectron2.engine import DefaultTrainer, SimpleTrainer, TrainerBase, create_ddp_model, hooks
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import setup_logger

from ..checkpoint import GroupViTCheckpointer
from ..data.dataset_mappers.zero_shot_semseg_mapper import ZeroShotSemSegDatasetMapper
from ..data.image_text_dataset import ImageTextWebDataset
from ..data.train_loaders import build_train_loader
from ..evaluation import build_evaluator
from ..evaluation.file_notes import NameFilesOnError, NamingEvaluator
from ..evaluation.split_check import check_sem_seg_split
from ..modeling.groupvit.layers.grouping import parse_fade
from .group_token_fade import GroupTokenFadeHook
from .grouping_health_hook import GroupingHealthHook
from .lr_scheduler import build_lr_scheduler
from .mixed_precision import MixedPrecisionTrainer, parse_amp_dtype
from .optimizer import build_groupvit_optimizer
from .results_table import results_table
from .resume_state import CaptureRNGStates, RNGStates, set_data_start
from .sample_counts import SkippedSamplesHook

__all__ = ["Trainer"]


class Trainer(DefaultTrainer):
    """DefaultTrainer with GroupViT's data, optimizer, checkpoint formats and evaluation."""

    _checked_splits = set()

    def __init__(self, cfg):
        # DefaultTrainer.__init__, except for three things: the model is wrapped for several
        # processes on CPUs too (gloo, no device_ids); mixed precision uses MixedPrecisionTrainer
        # (Detectron2's AMPTrainer needs CUDA and float16; this one runs bf16 on any device); and
        # the checkpointer reads every GroupViT format, saves atomically, and keeps the random
        # generator states that an exact resume needs.
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = create_ddp_model(model, broadcast_buffers=False, **_ddp_device_args(model))
        if cfg.SOLVER.AMP.ENABLED:
            self._trainer = MixedPrecisionTrainer(model, data_loader, optimizer,
                                                  dtype=parse_amp_dtype(cfg.SOLVER.AMP.DTYPE))
        else:
            self._trainer = SimpleTrainer(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.rng_states = RNGStates()
        self.checkpointer = GroupViTCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self),
                                                 rng=self.rng_states)
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def build_hooks(self):
        ret = super().build_hooks()
        # These run in after_step on every process, before the checkpointer and the writers, so
        # their figures reach the same metrics.json line. Every grouping starts uniform: the
        # collapse warning waits for a fifth of the schedule.
        first = next(i for i, h in enumerate(ret) if isinstance(h, (hooks.PeriodicCheckpointer, hooks.EvalHook)))
        extra = [CaptureRNGStates(self.rng_states, self.cfg.SOLVER.CHECKPOINT_PERIOD, self.max_iter),
                 GroupingHealthHook(period=self.cfg.TEST.GROUPING_HEALTH.PERIOD, warn_after=self.max_iter // 5)]
        fade = parse_fade(self.cfg.MODEL.GROUPVIT.GROUP_TOKEN_RESIDUAL_FADE)
        if fade:
            extra.append(GroupTokenFadeHook(fade))
        dataset = getattr(self._trainer.data_loader, "dataset", None)
        if isinstance(dataset, ImageTextWebDataset):
            extra.append(SkippedSamplesHook(dataset, period=20))
        return ret[:first] + extra + ret[first:]

    def resume_or_load(self, resume=True):
        super().resume_or_load(resume=resume)
        if self.start_iter > 0:
            # Continue the data stream where the interrupted run stopped instead of re-reading it.
            if set_data_start(self._trainer.data_loader, self.start_iter):
                logging.getLogger("groupvit_d2").info(
                    "Resuming the training data stream after %d iterations", self.start_iter)
            else:
                logging.getLogger("groupvit_d2").warning(
                    "This training loader cannot continue its data stream; the resumed run reads it from its start.")

    @classmethod
    def build_train_loader(cls, cfg):
        # Image-text pairs for GroupViT, or label maps for a SemanticSegmentor (INPUT.DATASET_MAPPER_NAME).
        return build_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        mapper = ZeroShotSemSegDatasetMapper(cfg, is_train=False, dataset_name=dataset_name)
        return build_detection_test_loader(cfg, dataset_name, mapper=mapper)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None, model=None):
        return build_evaluator(cfg, dataset_name, output_folder, model)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_groupvit_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        # Detectron2's schedules plus cosine annealing with restarts (SOLVER.LR_SCHEDULER_NAME).
        return build_lr_scheduler(cfg, optimizer)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        if cfg.TEST.CHECK_SPLIT:
            # Every bad file of every split at once, before hours of inference depend on them; once
            # per process, not at every evaluation during training.
            for name in cfg.DATASETS.TEST:
                if (name, cfg.TEST.OUT_OF_RANGE_LABELS) not in cls._checked_splits:
                    check_sem_seg_split(name, cfg.TEST.OUT_OF_RANGE_LABELS)
                    cls._checked_splits.add((name, cfg.TEST.OUT_OF_RANGE_LABELS))
        if evaluators is None:
            evaluators = [cls.build_evaluator(cfg, name, model=model) for name in cfg.DATASETS.TEST]
        if isinstance(evaluators, DatasetEvaluator):
            evaluators = [evaluators]
        evaluators = [NamingEvaluator(e) for e in evaluators]
        results = super().test(cfg, NameFilesOnError(model), evaluators)
        if comm.is_main_process() and results:
            by_dataset = results if len(cfg.DATASETS.TEST) > 1 else {cfg.DATASETS.TEST[0]: results}
            logging.getLogger("groupvit_d2").info("Zero-shot semantic segmentation:\n" + results_table(by_dataset))
            # --eval-only leaves no metrics.json: the latest results also go to a plain JSON file.
            path = os.path.join(cfg.OUTPUT_DIR, "inference", "results.json")
            PathManager.mkdirs(os.path.dirname(path))
            with PathManager.open(path, "w") as f:
                json.dump(by_dataset, f, indent=1)
        return results


def _ddp_device_args(model):
    # DistributedDataParallel takes device_ids only for a model on one GPU; on CPUs (gloo) none.
    device = next(model.parameters()).device
    return {} if device.type == "cuda" else {"device_ids": None}
