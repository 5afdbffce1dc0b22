#!/bin/bash
# Probe 2026-12-04 (AMD EPYC VM), after 2026-12-04_h256_lanes.sh: on the 4096-256-256-10 MLP at 12,000 steps,
# FactorVAE seed 0 (its ms/step side by side sets the table's steps) beside beta-TCVAE seed 2 (the third seed).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
B=".venv/bin/python benchmarks/disentangle.py --steps 12000 --hidden-dims 256,256 --lr-min 1e-4 --progress-every 2000 --sprites-cache runs/sprites_grid_64.npy --out runs/h256 --resume"
mkdir -p runs/h256
$B --models factorvae --seeds 0 --json runs/h256/lane_c.json > runs/h256/lane_c.log 2>&1 &
$B --models beta-tcvae --seeds 2 --json runs/h256/lane_d.json > runs/h256/lane_d.log 2>&1 &
wait
