#!/bin/sh
# Kills a small training run with SIGKILL at random moments, resumes it each
# time, and checks that the final checkpoint and log are byte-identical to a
# run never interrupted (TestKillResume in run_test.go: Tiny BaryNet,
# 12 steps, a checkpoint every 2).
#
#   scripts/kill_resume.sh [ROUNDS]    (default 3; each round kills until a run gets to finish)
set -eu
cd "$(dirname "$0")/.."
BARYIR_KILL_RESUME="${1:-3}" exec go test -run '^TestKillResume$' -count=1 -v .
