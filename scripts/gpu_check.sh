#!/usr/bin/env bash
# One script that turns a machine with an NVIDIA GPU into evidence for the
# GPU backend (internal/gpu).
#
#   scripts/gpu_check.sh build   # here: builds the tagged test binary and the
#                                # benchmark into .gpubin/ (needs Go and the CUDA
#                                # headers, e.g. Debian's nvidia-cuda-dev; not nvcc)
#   scripts/gpu_check.sh run     # there: runs every GPU test (internal/gpu's, and the
#                                # GPU Restorer/Trainer against the CPU ones), a short
#                                # three_degradation -device gpu and restore -device gpu,
#                                # and the benchmark next to PyTorch; writes
#                                # report.md and logs to $OUT
#                                # (default ./gpu-report); needs only the driver
#                                # (libcuda.so.1) and, for the comparison, PyTorch.
#   scripts/gpu_check.sh all     # both, on a machine that has everything.
#   scripts/gpu_check.sh emu     # here, no GPU: builds a fake libcuda.so.1 whose
#                                # launches run C emulations of the kernels
#                                # (internal/gpu/emu) and runs the tests and a tiny
#                                # benchmark against it: checks the Go side only.
#
#   scripts/gpu_check.sh pack    # here, after build: .gpupack/gpubin.tar.xz, the
#                                # binaries xz-compressed (all seven: about 54 MB of
#                                # 186; PACK_BINS="gpubench" for the benchmark alone),
#                                # which run unpacks into .gpubin/ when it finds it.
#
# With the device tool of this workplace (64 MiB may travel): build and pack
# here, then run with
#   carry: [".gpupack"], command: "scripts/gpu_check.sh run"
# Environment: BENCH_PRESET (paper), BENCH_BATCH (8), BENCH_SIZE (128),
# BENCH_INFER_SIZE (512), BENCH_PRECISIONS (fp32,tf32,bf16), BENCH_TIMEOUT (300 s),
# TRACK_STEPS (0; 300 runs the BF16 accuracy check: that many Trainer steps
# per precision, final L1 and test-photo PSNR against fp32 - minutes per
# precision on the Paper preset, so raise BENCH_TIMEOUT too),
# TORCH_MODES (fp32,tf32,bf16,compile-tf32,compile-bf16), TORCH_TIMEOUT (600 s),
# TORCH_MODE_TIMEOUT (240 s per mode), SKIP_TESTS=1 (internal/gpu's tests),
# SKIP_DEVICE=1 (the package and example runs), SKIP_BENCH=1, SKIP_TORCH=1.
# With the device tool's 15 minutes a session, run the parts in separate calls,
# e.g. SKIP_BENCH=1 first, then SKIP_TESTS=1 SKIP_DEVICE=1.
# TF32/BF16 load cuBLASLt at run time (libcublasLt.so.13, .12, .11 or .so):
# run looks for one in a CUDA toolkit or PyTorch's nvidia-cublas wheel.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.gpubin

build() {
	set -e
	go test ./internal/gpu/ -run TestPTXHasEveryKernel
	mkdir -p "$BIN"
	go test -c -tags baryirgpu -ldflags='-s -w' -o "$BIN/gpu.test" ./internal/gpu/
	go build -tags baryirgpu -ldflags='-s -w' -o "$BIN/gpubench" ./internal/cmd/gpubench/
	go test -c -tags baryirgpu -ldflags='-s -w' -o "$BIN/baryir.test" .
	go test -c -tags baryirgpu -ldflags='-s -w' -o "$BIN/custom_loop.test" ./examples/custom_loop/
	go build -tags baryirgpu -ldflags='-s -w' -o "$BIN/custom_loop" ./examples/custom_loop/
	go build -tags baryirgpu -ldflags='-s -w' -o "$BIN/three_degradation" ./examples/three_degradation/
	go build -tags baryirgpu -ldflags='-s -w' -o "$BIN/restore" ./examples/restore/
	ls -la "$BIN"
}

pack() {
	set -e
	mkdir -p .gpupack
	# PACK_BINS picks a subset: with the working tree (about 13 MB) the carry must
	# stay under 64 MiB, and all seven binaries pack to about 54 MB.
	# shellcheck disable=SC2086
	tar -C "$BIN" -cf - ${PACK_BINS:-gpu.test gpubench baryir.test custom_loop.test custom_loop three_degradation restore} | xz -T0 -6 >.gpupack/gpubin.tar.xz
	ls -la .gpupack
}

unpack() {
	# Only a pack newer than the binaries here (on a device machine: none).
	[ .gpupack/gpubin.tar.xz -nt "$BIN/gpu.test" ] || return 0
	mkdir -p "$BIN"
	tar -C "$BIN" -xJf .gpupack/gpubin.tar.xz 2>/dev/null ||
		python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' .gpupack/gpubin.tar.xz "$BIN"
}

# find_cublaslt puts a directory holding libcublasLt on LD_LIBRARY_PATH if the
# loader would not find one: a CUDA toolkit's, else PyTorch's bundled
# nvidia-cublas wheel's. TF32/BF16 need it (gpubench and the tests say so).
find_cublaslt() {
	if ldconfig -p 2>/dev/null | grep -q 'libcublasLt\.so'; then
		return 0
	fi
	local dir
	for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
		"$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)"; do
		if [ -n "$dir" ] && ls "$dir"/libcublasLt.so* >/dev/null 2>&1; then
			export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
			echo "cuBLASLt from $dir"
			return 0
		fi
	done
	echo "no libcublasLt found: TF32/BF16 will fail with an error naming it"
}

run() {
	unpack
	find_cublaslt
	OUT=${OUT:-$PWD/gpu-report}
	mkdir -p "$OUT"
	R="$OUT/report.md"
	: >"$R"
	{
		echo "# baryir GPU check ($(date -u +%FT%TZ))"
		echo '```'
		nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
		echo '```'
	} >>"$R"
	status=0
	if [ "${SKIP_TESTS:-0}" != 1 ]; then
		echo "## Tests (relative errors vs the CPU tape machine: tolerance 1e-3 in fp32; TF32/BF16 per op, see internal/gpu/precision_test.go)" >>"$R"
		echo '```' >>"$R"
		BARYIR_GPU_REPORT="$OUT/errors.txt" timeout 150 "$BIN/gpu.test" -test.v -test.run 'TestOps|TestGemmVariants|TestTrainingStep|TestBaryIRStep|TestPhases|TestOptimisers' \
			>"$OUT/tests.log" 2>&1
		rc=$?
		cat "$OUT/errors.txt" >>"$R" 2>/dev/null
		grep -E '^(--- FAIL|FAIL|PASS|ok|panic)' "$OUT/tests.log" >>"$R"
		echo "exit status $rc" >>"$R"
		echo '```' >>"$R"
		[ $rc -eq 0 ] || status=1
		tail -n 40 "$OUT/tests.log"
	fi
	if [ "${SKIP_DEVICE:-0}" != 1 ]; then
		device_runs "$R" || status=1
	fi
	if [ "${SKIP_BENCH:-0}" = 1 ]; then
		cat "$R"
		return $status
	fi
	P=${BENCH_PRESET:-paper} B=${BENCH_BATCH:-8} S=${BENCH_SIZE:-128} IS=${BENCH_INFER_SIZE:-512}
	echo "## Benchmark: $P preset, batch $B, ${S}x$S; inference of one ${IS}x$IS image; every precision" >>"$R"
	echo '(network step = forward + L1 + backward + RMSProp; Trainer / authors step = both phases and the penalty step)' >>"$R"
	echo '```' >>"$R"
	timeout "${BENCH_TIMEOUT:-300}" "$BIN/gpubench" -preset "$P" -batch "$B" -size "$S" -infersize "$IS" \
		-precision "${BENCH_PRECISIONS:-fp32,tf32,bf16}" -track "${TRACK_STEPS:-0}" -profile -gemmbench -json "$OUT/go_bench.json" \
		>"$OUT/go_bench.log" 2>&1
	echo "go exit status $?" >>"$OUT/go_bench.log"
	grep -v '^  ' "$OUT/go_bench.log" >>"$R" # the per-op profile stays in go_bench.log
	if [ "${SKIP_TORCH:-0}" != 1 ]; then
		PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-600}" python3 internal/cmd/gpubench/torch_bench.py --preset "$P" --batch "$B" --size "$S" \
			--infer-size "$IS" --modes "${TORCH_MODES:-fp32,tf32,bf16,compile-tf32,compile-bf16}" --mode-timeout "${TORCH_MODE_TIMEOUT:-240}" \
			--json "$OUT/torch_bench.json" >"$OUT/torch_bench.log" 2>&1
		echo "torch exit status $?" >>"$OUT/torch_bench.log"
		cat "$OUT/torch_bench.log" >>"$R"
	fi
	echo '```' >>"$R"
	python3 - "$OUT" >>"$R" 2>&1 <<'PY'
import json, sys, os
o = sys.argv[1]
def load(name):
    try:
        return json.load(open(os.path.join(o, name)))
    except Exception as e:
        print(f"({name}: {e})")
        return None
g, t = load("go_bench.json"), load("torch_bench.json")
rows = []  # (who, train step ms, train MiB, full step ms, full MiB, infer ms, infer MiB)
f = lambda v, p=1: "-" if v is None else f"{v:.{p}f}"
if g:
    for r in g.get("Runs", []):
        rows.append((f"baryir {r['Precision']}", r.get("TrainStepMs"), r.get("TrainPeakMiB"), r.get("TrainerStepMs"),
                     r.get("TrainerPeakMiB"), r.get("InferMs"), r.get("InferPeakMiB")))
    if g.get("Error"):
        print("gpubench error:", g["Error"])
if t:
    for r in t.get("runs", []):
        if "error" in r:
            rows.append((f"torch {r['mode']} (failed: {r['error'][:60]})", None, None, None, None, None, None))
            continue
        rows.append((f"torch {r['mode']}", r["train_step_ms"], r["train_peak_alloc_mib"], r["authors_step_ms"],
                     r["authors_peak_alloc_mib"], r["infer_ms"], r["infer_peak_alloc_mib"]))
print("| | network step (ms) | MiB | whole step, both phases (ms) | MiB | inference (ms) | MiB |")
print("|---|---|---|---|---|---|---|")
for row in rows:
    print(f"| {row[0]} | {f(row[1])} | {f(row[2], 0)} | {f(row[3])} | {f(row[4], 0)} | {f(row[5])} | {f(row[6], 0)} |")
print("\nbaryir MiB: the device pool's peak (buffers held from the driver, cuBLASLt's 32 MiB workspace included);")
print("torch MiB: torch.cuda.max_memory_allocated.")
eager = [r for r in (t or {}).get("runs", []) if "error" not in r and not r["mode"].startswith("compile")]
if g and eager:
    best = min(eager, key=lambda r: r["authors_step_ms"])
    besti = min(eager, key=lambda r: r["infer_ms"])
    for r in g.get("Runs", []):
        if r.get("TrainerStepMs"):
            print(f"baryir {r['Precision']}: whole step / fastest eager torch ({best['mode']}) = {r['TrainerStepMs'] / best['authors_step_ms']:.2f}; "
                  f"inference / fastest eager ({besti['mode']}) = {r['InferMs'] / besti['infer_ms']:.2f}")
tr = (g or {}).get("Track")
if tr:
    print(f"\nAccuracy over {tr['Steps']} Trainer steps (same seed per precision):")
    for p, v in tr["FinalL1"].items():
        print(f"- {p}: final L1 {v:.5f} ({100 * tr['FinalL1RelDiff'].get(p, 0):+.2f}% vs fp32; target within 5%), "
              f"test-photo PSNR {tr['PSNR'].get(p, 0):.3f} dB ({tr['PSNRDiffDB'].get(p, 0):+.3f} dB; target within 0.05)")
PY
	cat "$R"
	return $status
}

# device_runs: the GPU Restorer and Trainer against the CPU ones (package
# baryir's tagged tests), then the examples with -device gpu.
device_runs() {
	local R=$1 rc st=0 work
	work=$(mktemp -d)
	echo "## GPU Restorer and Trainer vs the CPU ones (tolerance 1e-3)" >>"$R"
	echo '```' >>"$R"
	BARYIR_GPU_REPORT="$OUT/device_errors.txt" timeout 120 "$BIN/baryir.test" -test.v -test.run 'TestGPU|TestDeviceOption|TestMachine|TestPrecision' \
		>"$OUT/device_tests.log" 2>&1
	rc=$?
	timeout 60 "$BIN/custom_loop.test" -test.v -test.run 'TestLoopMatchesTrainer' >>"$OUT/device_tests.log" 2>&1 || rc=1
	cat "$OUT/device_errors.txt" >>"$R" 2>/dev/null
	grep -E '^(--- FAIL|FAIL|PASS|ok|panic)|Error' "$OUT/device_tests.log" >>"$R"
	echo "exit status $rc" >>"$R"
	echo '```' >>"$R"
	[ $rc -eq 0 ] || st=1
	tail -n 20 "$OUT/device_tests.log"
	echo "## three_degradation -device gpu -steps 50 -eval-images 2" >>"$R"
	echo '```' >>"$R"
	local t0=$SECONDS
	timeout 150 "$BIN/three_degradation" -device gpu -steps 50 -eval-images 2 -out "$work/td" >"$work/td.out" 2>"$work/td.err"
	rc=$?
	tr '\r' '\n' <"$work/td.err" | grep -v '^$' | tail -n 8 >>"$R"
	cat "$work/td.out" >>"$R"
	echo "exit status $rc ($((SECONDS - t0)) s)" >>"$R"
	echo '```' >>"$R"
	[ $rc -eq 0 ] || st=1
	cp "$work/td/grid.png" "$OUT/td_grid.png" 2>/dev/null
	echo "## custom_loop -device gpu -steps 300 (a user's loop on the public Machine)" >>"$R"
	echo '```' >>"$R"
	t0=$SECONDS
	timeout 120 "$BIN/custom_loop" -device gpu -steps 300 >"$work/cl.out" 2>&1
	rc=$?
	tail -n 8 "$work/cl.out" >>"$R"
	echo "exit status $rc ($((SECONDS - t0)) s)" >>"$R"
	echo '```' >>"$R"
	[ $rc -eq 0 ] || st=1
	echo "## restore -device gpu (the weights just trained, one 256x256-class photo)" >>"$R"
	echo '```' >>"$R"
	local img
	img=$(ls data/embedded/test/*.png 2>/dev/null | head -n 1)
	t0=$SECONDS
	timeout 60 "$BIN/restore" -device gpu -weights "$work/td/weights.safetensors" -in "$img" -out "$OUT/restored.png" >"$work/restore.log" 2>&1
	rc=$?
	tr '\r' '\n' <"$work/restore.log" | grep -v '^$' | tail -n 5 >>"$R"
	echo "input $img; exit status $rc ($((SECONDS - t0)) s)" >>"$R"
	echo '```' >>"$R"
	[ $rc -eq 0 ] || st=1
	echo "## The same at BF16: three_degradation -device gpu -precision bf16 -steps 50, restore -precision bf16" >>"$R"
	echo '```' >>"$R"
	t0=$SECONDS
	timeout 150 "$BIN/three_degradation" -device gpu -precision bf16 -steps 50 -eval-images 2 -out "$work/td16" >"$work/td16.out" 2>"$work/td16.err"
	rc=$?
	tr '\r' '\n' <"$work/td16.err" | grep -v '^$' | tail -n 4 >>"$R"
	cat "$work/td16.out" >>"$R"
	timeout 60 "$BIN/restore" -device gpu -precision bf16 -weights "$work/td/weights.safetensors" -in "$img" -out "$OUT/restored_bf16.png" >"$work/restore16.log" 2>&1 || rc=1
	tr '\r' '\n' <"$work/restore16.log" | grep -v '^$' | tail -n 3 >>"$R"
	echo "exit status $rc ($((SECONDS - t0)) s)" >>"$R"
	echo '```' >>"$R"
	[ $rc -eq 0 ] || st=1
	rm -rf "$work"
	return $st
}

emu() {
	set -e
	build
	mkdir -p "$BIN/emu"
	gcc -O2 -shared -fPIC -o "$BIN/emu/libcuda.so.1" internal/gpu/emu/fakecuda.c internal/gpu/emu/emu.c -lm
	# The fake cuBLASLt (TF32/BF16 rounding) in a folder of its own, so a run
	# can also go without it; named .so.12 so that loading falls through .so.13.
	mkdir -p "$BIN/emu-lt"
	gcc -O2 -shared -fPIC -o "$BIN/emu-lt/libcublasLt.so.12" internal/gpu/emu/fakecublaslt.c
	local LIBS="$PWD/$BIN/emu:$PWD/$BIN/emu-lt"
	LD_LIBRARY_PATH="$LIBS" "$BIN/gpu.test" -test.run 'TestOps|TestGemmVariants|TestTrainingStep|TestBaryIRStep|TestPhases|TestOptimisers|TestPrecision'
	LD_LIBRARY_PATH="$LIBS" "$BIN/gpubench" -preset tiny -batch 2 -size 32 -steps 2 -infer 2 -infersize 32 -precision fp32,tf32,bf16
	LD_LIBRARY_PATH="$LIBS" "$BIN/baryir.test" -test.run 'TestGPU|TestDeviceOption|TestMachine|TestPrecision'
	LD_LIBRARY_PATH="$LIBS" "$BIN/custom_loop.test" -test.run 'TestLoopMatchesTrainer'
	# A product cuBLASLt has no algorithm for falls back to the float32 kernels.
	FAKE_LT_NO_BATCHED=1 LD_LIBRARY_PATH="$LIBS" "$BIN/gpu.test" -test.run 'TestPrecisionFallback'
	# Without any cuBLASLt: TF32/BF16 must fail at construction, naming it.
	BARYIR_EXPECT_NO_CUBLASLT=1 LD_LIBRARY_PATH="$PWD/$BIN/emu" "$BIN/gpu.test" -test.run 'TestPrecisionWithoutBLAS'
	BARYIR_EXPECT_NO_CUBLASLT=1 LD_LIBRARY_PATH="$PWD/$BIN/emu" "$BIN/baryir.test" -test.run 'TestGPUPrecisionWithoutBLAS'
	# The examples, smaller than on a GPU (the emulator's kernels are plain C).
	local work
	work=$(mktemp -d)
	LD_LIBRARY_PATH="$LIBS" "$BIN/three_degradation" -device gpu -steps 3 -batch 2 -patch 32 -eval-images 1 -out "$work/td"
	LD_LIBRARY_PATH="$LIBS" "$BIN/restore" -device gpu -weights "$work/td/weights.safetensors" \
		-in "$(ls data/embedded/test/*.png | head -n 1)" -out "$work/restored.png"
	ls -la "$work/restored.png"
	LD_LIBRARY_PATH="$LIBS" "$BIN/restore" -device gpu -precision bf16 -weights "$work/td/weights.safetensors" \
		-in "$(ls data/embedded/test/*.png | head -n 1)" -out "$work/restored_bf16.png"
	ls -la "$work/restored_bf16.png"
	rm -rf "$work"
}

case "${1:-all}" in
build) build ;;
pack) pack ;;
run) run ;;
all) build && run ;;
emu) emu ;;
*) echo "usage: $0 build|pack|run|all|emu" >&2; exit 2 ;;
esac
