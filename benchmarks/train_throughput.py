#!/usr/bin/env python
"""Training throughput and peak memory: our meta-architecture against transformers' GroupViTModel
(what is measured and how: groupvit_d2/benchmarking/training.py).

    python benchmarks/train_throughput.py [--archs released tiny] [--reps 3] [--threads N]
                                          [--released-batch 8] [--tiny-batch 32] [--num-labels 3]
                                          [--no-memory]
"""
from groupvit_d2.benchmarking.training import main

if __name__ == "__main__":
    main()
