package main

import "golang.org/x/sys/cpu"

// fmaLoop runs n iterations of 12 independent 8-lane FMAs (AVX2 + FMA).
//
//go:noescape
func fmaLoop(n int64)

// fmaKernel is the FMA-bound loop of this machine, or nil where the
// processor (or the OS) lacks AVX2 and FMA.
func fmaKernel() func(n int64) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return nil
	}
	return fmaLoop
}
