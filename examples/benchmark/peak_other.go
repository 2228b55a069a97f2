//go:build !amd64

package main

// fmaKernel is nil: no FMA-bound loop is written for this architecture, so
// the peak stays the nominal one.
func fmaKernel() func(n int64) { return nil }
