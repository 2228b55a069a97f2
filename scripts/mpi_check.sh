#!/usr/bin/env bash
# Data-parallel checks, run by .ci/run: the MPI communicator under mpirun
# (the tests re-run their own binary under `mpirun -np N --oversubscribe`),
# and the MPI and NCCL builds vetted. Needs Open MPI (Debian: libopenmpi-dev,
# openmpi-bin) and, for the NCCL path, the CUDA driver API headers (Debian:
# nvidia-cuda-dev from non-free); not NCCL itself, which is loaded at run
# time, nor a GPU (TestNCCL skips without one).
set -euo pipefail
cd "$(dirname "$0")/.."
# CI containers run as root, which mpirun refuses unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
go vet -tags baryirmpi ./...
go vet -tags baryirmpi,baryirgpu ./...
go test -count=1 -tags baryirmpi -run 'TestMPI|TestLocalComm|TestBuckets|TestReduceOp|TestDataParallel' .
go test -count=1 -tags baryirmpi -run TestUnderMPIRun ./examples/three_degradation
