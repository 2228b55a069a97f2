#!/bin/sh
# Regenerates baryir.ptx from baryir.cu (run by `go generate -tags baryirgpu ./internal/gpu/`).
# compute_80 PTX is JIT-compiled by the driver on Ampere and newer GPUs (H100/H200 included).
# nvcc 11.8 needs a host compiler of GCC 11 or older: set CUDAHOSTCXX (e.g. g++-11).
set -e
cd "$(dirname "$0")"
nvcc -ccbin "${CUDAHOSTCXX:-g++}" -ptx -arch=compute_80 -O3 -o baryir.ptx baryir.cu
