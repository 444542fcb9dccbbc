"""What the benchmark scripts (benchmarks/) share: timing and memory measurement, machine
description, a transformers GroupViTModel beside ours on the same weights, the encoder helpers,
and the sections of the speed report."""
