#!/bin/bash
# Probe 2026-12-04 (AMD EPYC VM): the table's beta-TCVAE on a narrower MLP, 4096-256-256-10 (--hidden-dims 256,256),
# which takes 37 ms a step alone against 512's ~75, so 12,000 steps (FactorVAE's 47 ms alone, ~56 side by side,
# fits 12 minutes) instead of 7,500. Seeds 0 and 1 side by side, 1 thread each (BLAS too); otherwise as the
# 7,500-step table: cosine 1e-3 -> 1e-4 by step, subnormals flushed, the grid read from the drawn cache.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
B=".venv/bin/python benchmarks/disentangle.py --steps 12000 --hidden-dims 256,256 --lr-min 1e-4 --progress-every 2000 --sprites-cache runs/sprites_grid_64.npy --out runs/h256 --resume"
mkdir -p runs/h256
$B --models beta-tcvae --seeds 0 --json runs/h256/lane_a.json > runs/h256/lane_a.log 2>&1 &
$B --models beta-tcvae --seeds 1 --json runs/h256/lane_b.json > runs/h256/lane_b.log 2>&1 &
wait
