#!/usr/bin/env bash
# Data-parallel checks, run by .ci/run: the MPI communicator under mpirun
# (the tests re-run their own binary under `mpirun -np N --oversubscribe`),
# and the MPI and NCCL builds vetted. Needs Open MPI (Debian: libopenmpi-dev,
# openmpi-bin) and, for the NCCL path, the CUDA driver API headers (Debian:
# nvidia-cuda-dev from non-free); not NCCL itself, which is loaded at run
# time, nor a GPU: the NCCL tests run against the emulator's fakes here, and
# on a GPU machine with `go test -tags baryirmpi,baryirgpu -run 'TestNCCL|TestGPUDataParallel' .`
# (libnccl.so.2 on LD_LIBRARY_PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
# CI containers run as root, which mpirun refuses unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
go vet -tags baryirmpi ./...
go vet -tags baryirmpi,baryirgpu ./...
go test -count=1 -tags baryirmpi -run 'TestMPI|TestLocalComm|TestBuckets|TestDataParallel' .
go test -count=1 -tags baryirmpi -run TestUnderMPIRun ./examples/three_degradation
# The NCCL path against internal/gpu/emu's fake libcuda.so.1 and fake
# libnccl.so.2 (a job of one rank): checks the Go side, not NCCL or CUDA.
emu=$(mktemp -d)
trap 'rm -rf "$emu"' EXIT
gcc -O2 -shared -fPIC -o "$emu/libcuda.so.1" internal/gpu/emu/fakecuda.c internal/gpu/emu/emu.c -lm
gcc -O2 -shared -fPIC -o "$emu/libnccl.so.2" internal/gpu/emu/fakenccl.c
go test -c -tags baryirmpi,baryirgpu -o "$emu/baryir.test" .
(cd "$emu" && LD_LIBRARY_PATH="$emu" BARYIR_FAKE_NCCL=1 ./baryir.test -test.run 'TestNCCL|TestGPUDataParallel' -test.v)
