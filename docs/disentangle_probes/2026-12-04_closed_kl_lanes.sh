#!/bin/bash
# Probe 2026-12-04 (AMD EPYC VM): beta-TCVAE's loss with the closed-form KL in place of MI + TC + DWKL (their sum
# is the single-draw KL; TCTerms.loss, edited in the worktree for this probe only (not committed), added (alpha-1) MI + (beta-1) TC + (gamma-1) DWKL to the closed form:
# the same expected loss, less noise). Seeds 0 and 1 as 2026-12-04_h256_lanes.sh: MLP 4096-256-256-10, 12,000 steps.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
B=".venv/bin/python benchmarks/disentangle.py --steps 12000 --hidden-dims 256,256 --lr-min 1e-4 --progress-every 2000 --sprites-cache runs/sprites_grid_64.npy --out runs/closed_kl --resume"
mkdir -p runs/closed_kl
$B --models beta-tcvae --seeds 0 --json runs/closed_kl/lane_a.json > runs/closed_kl/lane_a.log 2>&1 &
$B --models beta-tcvae --seeds 1 --json runs/closed_kl/lane_b.json > runs/closed_kl/lane_b.log 2>&1 &
wait
