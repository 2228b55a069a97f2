package main

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// fmaFLOPsPerIter is the float32 FLOPs of one fmaLoop iteration: 12 FMAs x
// 8 lanes x 2.
const fmaFLOPsPerIter = 12 * 8 * 2

// peakTrial is one run of the FMA-bound loop on every core at once.
type peakTrial struct {
	// CPU is the sum over the cores of FLOPs / that thread's CPU time: the
	// rate of the cores while they ran, which the scheduler's time given to
	// other processes does not lower. Wall is all FLOPs over the wall time.
	CPU, Wall float64
}

// runPeakTrial runs kern(iters) on cores locked threads at once.
func runPeakTrial(kern func(int64), cores int, iters int64) peakTrial {
	var wg sync.WaitGroup
	start := make(chan struct{})
	rates := make([]float64, cores)
	for i := range cores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			<-start
			t0 := threadCPU()
			kern(iters)
			if dt := threadCPU() - t0; dt > 0 {
				rates[i] = float64(iters) * fmaFLOPsPerIter / dt.Seconds()
			}
		}()
	}
	t := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t).Seconds()
	var tr peakTrial
	for _, r := range rates {
		tr.CPU += r
	}
	tr.Wall = float64(cores) * float64(iters) * fmaFLOPsPerIter / wall
	return tr
}

// threadCPU is the calling thread's CPU time (user + system).
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measurePeak measures the machine's float32 FLOP rate with an FMA-bound
// loop on every core at once: the best of trials runs of about 0.3 s each,
// counted per core on its thread's CPU time (see peakTrial). It returns 0
// and why where there is no such loop for this machine.
func measurePeak(trials int) (float64, string) {
	kern := fmaKernel()
	if kern == nil {
		return 0, "no FMA-bound loop for this machine (needs amd64 with AVX2 and FMA)"
	}
	cores := runtime.NumCPU()
	// calibrate on one core: iterations for about 0.3 s
	iters := int64(1 << 20)
	for {
		t := time.Now()
		kern(iters)
		if d := time.Since(t); d > 50*time.Millisecond {
			iters = int64(float64(iters) * 0.3 / d.Seconds())
			break
		}
		iters *= 4
	}
	var best peakTrial
	for range trials {
		tr := runPeakTrial(kern, cores, iters)
		best.CPU, best.Wall = max(best.CPU, tr.CPU), max(best.Wall, tr.Wall)
	}
	return best.CPU, fmt.Sprintf("%.1f GFLOP/s measured: AVX2 FMA loop on %d cores at once, best of %d trials on thread CPU time (%.1f GFLOP/s on wall time)",
		best.CPU/1e9, cores, trials, best.Wall/1e9)
}
