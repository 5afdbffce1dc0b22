#!/bin/bash
# Probe of 2026-12-03 22:05 UTC (AMD EPYC VM, 2 cores): beta-TCVAE with log q(z) by minibatch-weighted
# sampling (Chen et al.'s default; the table uses the stratified estimator) on seeds 0, 1, 2, and the
# table's beta-TCVAE seed 2 again on this CPU (it scored MIG 0.153 on the Intel VM): the table's flags
# of docs/disentangle_2026-12-03_7500/lanes.sh otherwise. Run from the repository root.
B=".venv/bin/python benchmarks/disentangle.py --steps 7500 --lr-min 1e-4 --progress-every 1000 --out runs/p17 --resume"
mkdir -p runs/p17
(
  $B --models beta-tcvae-mws --seeds 0,2 --json runs/p17/lane_a.json
) > runs/p17/lane_a.log 2>&1 &
(
  $B --models beta-tcvae-mws --seeds 1 --json runs/p17/lane_b.json
  $B --models beta-tcvae --seeds 2 --json runs/p17/lane_b.json
) > runs/p17/lane_b.log 2>&1 &
wait
