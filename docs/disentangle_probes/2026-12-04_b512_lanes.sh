#!/bin/bash
# Probe 2026-12-04 (AMD EPYC VM): does a bigger batch, i.e. a better batch estimate of log q(z) (Chen et al. used
# 2,048 rows), put x and y on latents of their own? beta-TCVAE seeds 0 and 1 on the 4096-256-256-10 MLP at 12,000
# steps of batch 512 (4x the images of 2026-12-04_h256_lanes.sh; about 22 minutes a run, past the 12).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
B=".venv/bin/python benchmarks/disentangle.py --steps 12000 --batch-size 512 --hidden-dims 256,256 --lr-min 1e-4 --progress-every 2000 --sprites-cache runs/sprites_grid_64.npy --out runs/b512 --resume"
mkdir -p runs/b512
$B --models beta-tcvae --seeds 0 --json runs/b512/lane_a.json > runs/b512/lane_a.log 2>&1 &
$B --models beta-tcvae --seeds 1 --json runs/b512/lane_b.json > runs/b512/lane_b.log 2>&1 &
wait
