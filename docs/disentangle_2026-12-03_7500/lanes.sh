#!/bin/bash
# The issue-17 table begun 2026-12-03 17:55 UTC: two lanes side by side, 1 torch thread each, 7,500 steps
# (12 minutes of FactorVAE's 94 ms steps side by side), Adam on a cosine 1e-3 -> 1e-4 by step, FactorVAE's
# discriminator on the same cosine, subnormals flushed; run from the repository root (on 2026-12-03 from a
# git worktree of 401b8e5, so that edits in the checkout could not reach the later lines).
B=".venv/bin/python benchmarks/disentangle.py --steps 7500 --lr-min 1e-4 --progress-every 1000 --out runs/t17b --resume"
mkdir -p runs/t17b
(
  $B --models beta-tcvae --seeds 0,1,2 --json runs/t17b/lane_a.json
  $B --models beta-vae --seeds 0,1,2 --json runs/t17b/lane_a.json
  $B --models beta-vae-6 --seeds 1,2 --json runs/t17b/lane_a.json
) > runs/t17b/lane_a.log 2>&1 &
(
  $B --models factorvae --seeds 0,1,2 --json runs/t17b/lane_b.json
  $B --models vae --seeds 0,1,2 --json runs/t17b/lane_b.json
  $B --models beta-vae-6 --seeds 0 --json runs/t17b/lane_b.json
) > runs/t17b/lane_b.log 2>&1 &
wait
