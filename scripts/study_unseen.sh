#!/bin/bash
# The generalisation study of examples/three_degradation: BaryIR and the plain
# Restormer (-baseline), same seed and budget, for three and five
# degradations, each evaluated on the training tasks and the unseen
# conditions (-ood); BaryIR also with the latent study (-latents) and the
# residual ablation (-ablate-residual). Results land in OUT/<tasks>_<arm>/
# (results.json, grids, latents.png) and OUT/<tasks>_<arm>.json.
#
#   scripts/study_unseen.sh [OUT] [extra flags for every run, e.g. -seed 2 -steps 6000]
#
# Each run is the default demo (about 5 minutes on 2 idle cores, plus about a
# minute of evaluation); the four run one after another, at nice 10.
set -euo pipefail
out=${1:-out/study}
shift || true
mkdir -p "$out"
go build -o "$out/three_degradation" ./examples/three_degradation
for tasks in three five; do
  for arm in bary base; do
    flags=(-tasks "$tasks" -ood -json -out "$out/${tasks}_${arm}")
    if [ "$arm" = base ]; then flags+=(-baseline); else flags+=(-latents -ablate-residual); fi
    echo "== $tasks $arm" >&2
    nice -n 10 "$out/three_degradation" "${flags[@]}" "$@" > "$out/${tasks}_${arm}.json"
  done
done
