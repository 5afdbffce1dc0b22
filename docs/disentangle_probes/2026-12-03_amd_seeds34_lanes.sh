#!/bin/bash
# Probe of 2026-12-03 22:50 UTC (AMD EPYC VM, 2 cores): the table's beta-TCVAE on two more seeds, 3 and 4,
# to see the spread of its MIG over five seeds; flags as 2026-12-03_amd_lanes.sh. Run from the repository root.
C=runs/sprites_grid_64.npy
cat $C > /dev/null  # into the page cache before the timed runs
B=".venv/bin/python benchmarks/disentangle.py --steps 7500 --lr-min 1e-4 --progress-every 1000 --out runs/p17d --resume --sprites-cache $C"
mkdir -p runs/p17d
$B --models beta-tcvae --seeds 3 --json runs/p17d/lane_a.json > runs/p17d/lane_a.log 2>&1 &
$B --models beta-tcvae --seeds 4 --json runs/p17d/lane_b.json > runs/p17d/lane_b.log 2>&1 &
wait
