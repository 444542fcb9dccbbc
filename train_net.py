#!/usr/bin/env python
"""GroupViT training and zero-shot evaluation with Detectron2.

Train:        python train_net.py --config-file configs/... [--num-gpus N] [--resume]
Evaluate:     python train_net.py --config-file configs/... --eval-only MODEL.WEIGHTS <file or URL>
Multi-node:   add --num-machines M --machine-rank R --dist-url tcp://HOST:PORT

The Trainer itself lives in groupvit_d2/engine/trainer.py, where tools that evaluate checkpoints
import it from.
"""
import logging
import os

import detectron2.utils.comm as comm
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import setup_logger

from groupvit_d2 import load_config
from groupvit_d2.checkpoint import GroupViTCheckpointer
from groupvit_d2.engine.trainer import Trainer

__all__ = ["Trainer", "setup", "check_eval_weights", "main"]


def setup(args):
    cfg = load_config(args.config_file, args.opts)
    default_setup(cfg, args)
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="groupvit_d2")
    return cfg


def check_eval_weights(cfg, resume):
    """Refuse to score a randomly initialised model unless TEST.ALLOW_RANDOM_WEIGHTS asks for it."""
    if cfg.MODEL.WEIGHTS or (resume and PathManager.exists(os.path.join(cfg.OUTPUT_DIR, "last_checkpoint"))):
        return
    if not cfg.TEST.ALLOW_RANDOM_WEIGHTS:
        raise ValueError(
            "--eval-only without MODEL.WEIGHTS would evaluate a randomly initialised model. Give the "
            "checkpoint to evaluate (MODEL.WEIGHTS <file, URL or groupvit:// name>, or --resume with "
            f"a last_checkpoint in OUTPUT_DIR={cfg.OUTPUT_DIR}), or set TEST.ALLOW_RANDOM_WEIGHTS True "
            "to evaluate random weights on purpose."
        )
    logging.getLogger("groupvit_d2").warning(
        "TEST.ALLOW_RANDOM_WEIGHTS: evaluating a randomly initialised model (MODEL.WEIGHTS is empty)."
    )


def main(args):
    cfg = setup(args)
    if args.eval_only:
        check_eval_weights(cfg, args.resume)
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
