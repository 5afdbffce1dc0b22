#!/bin/bash
# The issue-17 table of 2026-12-03: two lanes side by side, 1 torch thread each, 6,500 steps,
# Adam on a cosine 1e-3 -> 1e-4, subnormals flushed; run from the repository root.
# (On 2026-12-03 it ran from a git worktree of the commit, so that edits in the checkout could not
# reach the later lines; beta-tcvae-gamma0's seed 0 came from runs/p17/gamma0.json, the probe
# run with the same settings just before.)
B=".venv/bin/python benchmarks/disentangle.py --steps 6500 --lr-min 1e-4 --progress-every 1000 --out runs/t17 --resume"
(
  $B --models beta-tcvae-gamma0 --seeds 1,2 --json runs/t17/lane_a.json
  $B --models beta-tcvae --seeds 0,1,2 --json runs/t17/lane_a.json
  $B --models beta-vae --seeds 0,1,2 --json runs/t17/lane_a.json
  $B --models beta-vae-6 --seeds 2 --json runs/t17/lane_a.json
) > runs/t17/lane_a.log 2>&1 &
(
  $B --models factorvae --seeds 0,1,2 --json runs/t17/lane_b.json
  $B --models vae --seeds 0,1,2 --json runs/t17/lane_b.json
  $B --models beta-vae-6 --seeds 0,1 --json runs/t17/lane_b.json
) > runs/t17/lane_b.log 2>&1 &
wait
