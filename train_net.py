#!/usr/bin/env python
"""GroupViT training and zero-shot evaluation with Detectron2.

Train:        python train_net.py --config-file configs/... [--num-gpus N] [--resume]
Evaluate:     python train_net.py --config-file configs/... --eval-only MODEL.WEIGHTS <file or URL>
Multi-node:   add --num-machines M --machine-rank R --dist-url tcp://HOST:PORT
"""
import json
import logging
import os
import weakref

import detectron2.utils.comm as comm
from detectron2.config import get_cfg
from detectron2.data import build_detection_test_loader
from detectron2.engine import DefaultTrainer, default_argument_parser, default_setup, hooks, launch
from detectron2.evaluation import DatasetEvaluators, SemSegEvaluator
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import setup_logger

from groupvit_d2 import add_groupvit_config
from groupvit_d2.checkpoint import GroupViTCheckpointer
from groupvit_d2.data.dataset_mappers.zero_shot_semseg_mapper import ZeroShotSemSegDatasetMapper
from groupvit_d2.data.train_loaders import build_train_loader
from groupvit_d2.engine import MixedPrecisionTrainer, build_groupvit_optimizer, results_table
from groupvit_d2.engine.grouping_health_hook import GroupingHealthHook
from groupvit_d2.engine.mixed_precision import parse_amp_dtype
from groupvit_d2.engine.lr_scheduler import build_lr_scheduler
from groupvit_d2.evaluation import GroupPicturesWriter, build_diagnostic_evaluators
from groupvit_d2.evaluation.boundary_iou import BoundaryIoUEvaluator
from groupvit_d2.evaluation.grouping_health import GroupingHealthEvaluator
from groupvit_d2.modeling.meta_arch.groupvit import GroupViT
from groupvit_d2.evaluation.jaccard import JaccardEvaluator


class Trainer(DefaultTrainer):
    """DefaultTrainer with GroupViT's data, optimizer, checkpoint formats and evaluation."""

    def __init__(self, cfg):
        super().__init__(cfg)
        # Loads the official and Hugging Face formats as well as Detectron2's own.
        self.checkpointer = GroupViTCheckpointer(self._trainer.model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        for h in self._hooks:
            if isinstance(h, hooks.PeriodicCheckpointer):
                h.checkpointer = self.checkpointer
        if cfg.SOLVER.AMP.ENABLED:
            # Detectron2's AMPTrainer needs CUDA and float16; this one runs bf16 on any device.
            inner = self._trainer
            self._trainer = MixedPrecisionTrainer(
                inner.model, inner.data_loader, inner.optimizer, dtype=parse_amp_dtype(cfg.SOLVER.AMP.DTYPE)
            )

    def build_hooks(self):
        hooks_list = super().build_hooks()
        # Before the writers (the last hooks), so the figures reach the same metrics.json line.
        # Every grouping starts uniform: the collapse warning waits for a fifth of the schedule.
        hooks_list.insert(-1, GroupingHealthHook(period=self.cfg.TEST.GROUPING_HEALTH.PERIOD,
                                                 warn_after=self.cfg.SOLVER.MAX_ITER // 5))
        return hooks_list

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
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        evaluators = [SemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder)]
        if cfg.TEST.GROUP_PICTURES > 0 and model is not None:
            evaluators.append(GroupPicturesWriter(dataset_name, model, os.path.join(output_folder, "pictures"),
                                                  max_images=cfg.TEST.GROUP_PICTURES))
        evaluators += build_diagnostic_evaluators(cfg, dataset_name, output_folder, model)
        if cfg.TEST.JACCARD.ENABLED:
            evaluators.append(JaccardEvaluator(dataset_name, model, cfg.TEST.JACCARD.MATCHING,
                                               cfg.TEST.JACCARD.IGNORE_BACKGROUND))
        if cfg.TEST.GROUPING_HEALTH.ENABLED and isinstance(getattr(model, "module", model), GroupViT):
            evaluators.append(GroupingHealthEvaluator(dataset_name, model))
        if cfg.TEST.BOUNDARY_IOU.ENABLED:
            evaluators.append(BoundaryIoUEvaluator(dataset_name, cfg.TEST.BOUNDARY_IOU.DILATION_RATIO))
        return DatasetEvaluators(evaluators)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_groupvit_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        # Detectron2's schedules plus cosine annealing with restarts (SOLVER.LR_SCHEDULER_NAME).
        return build_lr_scheduler(cfg, optimizer)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        if evaluators is None:
            evaluators = [cls.build_evaluator(cfg, name, model=model) for name in cfg.DATASETS.TEST]
        results = super().test(cfg, model, evaluators)
        if comm.is_main_process() and results:
            by_dataset = results if len(cfg.DATASETS.TEST) > 1 else {cfg.DATASETS.TEST[0]: results}
            logging.getLogger("groupvit_d2").info("Zero-shot semantic segmentation:\n" + results_table(by_dataset))
            # --eval-only leaves no metrics.json: the latest results also go to a plain JSON file.
            path = os.path.join(cfg.OUTPUT_DIR, "inference", "results.json")
            PathManager.mkdirs(os.path.dirname(path))
            with PathManager.open(path, "w") as f:
                json.dump(by_dataset, f, indent=1)
        return results


def setup(args):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="groupvit_d2")
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        GroupViTCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return Trainer.test(cfg, model)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
