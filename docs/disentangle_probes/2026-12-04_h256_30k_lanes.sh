#!/bin/bash
# Probe 2026-12-04 (AMD EPYC VM): is beta-TCVAE's MIG bound by the steps? The 4096-256-256-10 MLP's seeds 0 and 2
# (MIG 0.137 and 0.195 at 12,000 steps) trained for 30,000 steps (16.5 minutes side by side, past the table's
# 12), the cosine 1e-3 -> 1e-4 stretched over them; otherwise as 2026-12-04_h256_lanes.sh.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
B=".venv/bin/python benchmarks/disentangle.py --steps 30000 --hidden-dims 256,256 --lr-min 1e-4 --progress-every 5000 --sprites-cache runs/sprites_grid_64.npy --out runs/h256_30k --resume"
mkdir -p runs/h256_30k
$B --models beta-tcvae --seeds 0 --json runs/h256_30k/lane_a.json > runs/h256_30k/lane_a.log 2>&1 &
$B --models beta-tcvae --seeds 2 --json runs/h256_30k/lane_b.json > runs/h256_30k/lane_b.log 2>&1 &
wait
