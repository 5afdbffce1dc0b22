#!/bin/bash
# Probe of 2026-12-03 22:40 UTC (AMD EPYC VM, 2 cores): the table's beta-TCVAE (docs/disentangle_2026-12-03_7500)
# on seeds 0 and 1 on this CPU, beside seed 2 of 2026-12-03_mws_lanes.sh (MIG 0.200 here, 0.153 on the Intel VM);
# the grid's images read from the drawn file (the same batches as rendering). Run from the repository root.
C=runs/sprites_grid_64.npy
cat $C > /dev/null  # into the page cache before the timed runs
B=".venv/bin/python benchmarks/disentangle.py --steps 7500 --lr-min 1e-4 --progress-every 1000 --out runs/p17c --resume --sprites-cache $C"
mkdir -p runs/p17c
$B --models beta-tcvae --seeds 0 --json runs/p17c/lane_a.json > runs/p17c/lane_a.log 2>&1 &
$B --models beta-tcvae --seeds 1 --json runs/p17c/lane_b.json > runs/p17c/lane_b.log 2>&1 &
wait
