#!/bin/bash
# Probe of 2026-12-03 22:50 UTC (AMD EPYC VM, 2 cores): 8,200 steps with the grid read from the drawn file,
# side by side: FactorVAE seed 0 (is it inside the 12 minutes? the slowest model sets every model's steps) and
# beta-TCVAE seed 0 (0.197 at 7,500 steps on this CPU); flags as 2026-12-03_amd_lanes.sh otherwise.
C=runs/sprites_grid_64.npy
cat $C > /dev/null  # into the page cache before the timed runs
B=".venv/bin/python benchmarks/disentangle.py --steps 8200 --lr-min 1e-4 --progress-every 1000 --out runs/p17d --resume --sprites-cache $C"
mkdir -p runs/p17d
$B --models factorvae --seeds 0 --json runs/p17d/lane_a.json > runs/p17d/lane_a.log 2>&1 &
$B --models beta-tcvae --seeds 0 --json runs/p17d/lane_b.json > runs/p17d/lane_b.log 2>&1 &
wait
