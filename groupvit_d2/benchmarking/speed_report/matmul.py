"""matmul: the machine's fp32 and bf16 matrix-product throughput."""
import time

import torch

from ..common import cpu_flags, markdown_table


def matmul_throughput(dtype, op, max_n, repeats, budget_s=4.0):
    """(GFLOP/s best of `repeats`, n) of an n x n x n product, n the largest power of two <= max_n
    whose product takes at most about `budget_s` by the rate at 512 (slow dtypes get a smaller n)."""
    fn = torch.mm if op == "torch.mm" else torch.nn.functional.linear

    def best(n, reps):
        g = torch.Generator().manual_seed(0)
        a, b = (torch.randn(n, n, generator=g).to(dtype) for _ in range(2))
        fn(a, b)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn(a, b)
            times.append(time.perf_counter() - t0)
        return 2 * n**3 / min(times) / 1e9

    n = min(512, max_n)
    rate = best(n, 2)
    while 2 * n <= max_n and 2 * (2 * n) ** 3 / (rate * 1e9) <= budget_s:
        n *= 2
    return best(n, repeats), n


def matmul_section(args, report):
    max_n = 256 if args.quick else 2048
    rows, results = [], {}
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        for op in ("torch.mm", "F.linear"):
            gflops, n = matmul_throughput(dtype, op, max_n, max(args.repeats, 3))
            results[name, op] = gflops
            rows.append([name, op, f"{n}^3", f"{gflops:.1f}"])
    peak = max(results["fp32", "torch.mm"], results["fp32", "F.linear"])
    bf16 = max(results["bf16", "torch.mm"], results["bf16", "F.linear"])
    flags = cpu_flags()
    flag_text = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items()) or "unknown"
    note = (f"fp32 peak used below: {peak:.1f} GFLOP/s (the best fp32 row). bf16 reaches {bf16:.1f} GFLOP/s, "
            f"{bf16 / peak:.3f}x fp32. CPU flags: {flag_text}; torch's CPU kernels: "
            f"{torch.backends.cpu.get_cpu_capability()}.")
    if flags and not (flags.get("avx512_bf16") or flags.get("amx_bf16")):
        note += (" Without AVX512-BF16 or AMX there is no bf16 matrix-product hardware: bf16 operands are "
                 "widened and multiplied in fp32 by slower kernels, so bf16 autocast cannot pay on this CPU.")
    report.add("Matrix-product throughput", markdown_table(["dtype", "op", "size", "GFLOP/s"], rows), note)
    return peak, bf16
