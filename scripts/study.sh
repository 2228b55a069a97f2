#!/bin/bash
# The paper's ablations (Sec. 5.5) at the demo's scale: examples/three_degradation
# (Tiny preset, the embedded photos, -ood on every run) once per row and seed, then
# examples/cost (Tab. XII/XIII, the Paper preset at 256x256) and
# examples/study_tables, which writes OUT/tables.md from the rows' JSON files.
#
#   scripts/study.sh [-f] [OUT] [extra flags for every run]
#
# Rows: ref (BaryIR as the preset has it, with -feature-ablation: Fig. 9);
# Tab. IX: losses_{none,irc_bro,mwb,mwb_irc,mwb_bro} and emb_{s,b,s_r} (ref is
# "all" and "b+r"); Tab. X: weights_uniform; Tab. XI: map_{mlp,unet,vit} and
# restormer (-baseline); Fig. 10: batch_{2,8,16}, each on as many training
# patches as ref (STEPS x 4 / batch steps); Fig. 12: beta_{0.01,0.02,0.1,0.2}
# (ref: 0.05).
#
# Environment: STEPS (default 1500, the demo's: steps of a batch-4 row), SEEDS (default "1"),
# ROWS (an extended regex; only the rows whose names match run, "cost" the cost
# table), COST_FLAGS (default "-preset paper -reps 1").
#
# Without -f the script starts itself in the background (nohup, nice 10) and
# returns; follow OUT/study.log. It resumes: a row whose OUT/<row>_seed<N>.json
# exists is skipped, and an interrupted row resumes from the checkpoint in
# OUT/runs/<row>_seed<N>/ (written every 100 steps), so run it again with the
# same STEPS and extra flags after a stop (a resumed row's train_seconds counts
# its last part only). Copy OUT/*.json, OUT/*.png, OUT/cost.md and OUT/tables.md
# into examples/three_degradation/results/analyses/ to commit them (OUT/runs
# holds weights and checkpoints); `go run ./examples/study_tables
# examples/three_degradation/results/analyses` remakes the tables from them.
#
# Budget: about 0.2 s a step on 2 idle cores (Tiny, batch 4, 64x64 patches; the
# unet map 1.2x, the mlp map 0.8x, the Restormer 0.65x, batch 16 on as many
# patches 0.9x) plus about 15 s of evaluation a row (30 s for ref): 21 rows of
# 1500 steps, one seed, about 110 minutes, and examples/cost a few minutes.
# Other work on the cores stretches that (1.3x at a load of 7 on 2 cores).
set -euo pipefail
background=1
if [ "${1:-}" = -f ]; then
  background=0
  shift
fi
out=$(realpath -m "${1:-out/analyses}")
shift || true
cd "$(dirname "$0")/.." # the repository root: go build ./examples/...
if [ "$background" = 1 ]; then
  mkdir -p "$out"
  nohup nice -n 10 scripts/study.sh -f "$out" "$@" >> "$out/study.log" 2>&1 < /dev/null &
  echo "study running in the background (pid $!); follow $out/study.log"
  exit 0
fi
steps=${STEPS:-1500}
seeds=${SEEDS:-1}
filter=${ROWS:-.}
mkdir -p "$out/runs"
go build -o "$out/three_degradation" ./examples/three_degradation
go build -o "$out/cost" ./examples/cost
go build -o "$out/study_tables" ./examples/study_tables

# row NAME [flags]: one run per seed, skipped when done, resumed when interrupted.
row() {
  local name=$1
  shift
  [[ $name =~ $filter ]] || return 0
  local seed dir json flags
  for seed in $seeds; do
    dir="$out/runs/${name}_seed$seed"
    json="$out/${name}_seed$seed.json"
    if [ -s "$json" ]; then
      echo "== $name seed $seed: done ($json)"
      continue
    fi
    flags=(-json -ood -seed "$seed" -out "$dir" -steps "$steps")
    if [ -s "$dir/checkpoint.safetensors" ]; then
      flags+=(-resume "$dir/checkpoint.safetensors")
      echo "== $name seed $seed: resuming"
    else
      flags+=(-overwrite)
      echo "== $name seed $seed: $(date -u +%H:%M:%S)"
    fi
    # later flags win: the row's own (-steps for the batch sweep) after the defaults
    if ! "$out/three_degradation" "${flags[@]}" "$@" "${extra[@]}" > "$json.tmp"; then
      echo "== $name seed $seed: FAILED (see above; run the script again to resume it)"
      failed+=("${name}_seed$seed")
      continue
    fi
    mv "$json.tmp" "$json"
    for pic in "$dir"/feature_ablation_*.png; do
      [ -e "$pic" ] || continue
      base=$(basename "$pic" .png)
      cp "$pic" "$out/${base}_seed$seed.png"
    done
  done
}

extra=("$@")
failed=()
row ref -feature-ablation
for l in none irc+bro mwb mwb+irc mwb+bro; do row "losses_${l//+/_}" -losses "$l"; done
for e in s b s+r; do row "emb_${e//+/_}" -embedding "$e"; done
row weights_uniform -weights uniform
for m in mlp unet vit; do row "map_$m" -map "$m"; done
row restormer -baseline
for b in 2 8 16; do row "batch_$b" -batch "$b" -steps $((steps * 4 / b)); done
for beta in 0.01 0.02 0.1 0.2; do row "beta_$beta" -beta "$beta"; done

if [[ cost =~ $filter ]] && [ ! -s "$out/cost.json" ]; then
  echo "== cost: $(date -u +%H:%M:%S)"
  # shellcheck disable=SC2086 # COST_FLAGS is a list of flags
  "$out/cost" ${COST_FLAGS:--preset paper -reps 1} -out "$out" || failed+=(cost)
fi
"$out/study_tables" -out "$out/tables.md" "$out"
echo "== tables: $out/tables.md ($(date -u +%H:%M:%S))"
if [ ${#failed[@]} -gt 0 ]; then
  echo "== failed: ${failed[*]}"
  exit 1
fi
