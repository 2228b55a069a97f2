//go:build baryirgpu

package main

import (
	"fmt"
	"math"
	"time"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/gpu"
)

// newTrainer is the authors' setup (both phases and the penalty step) for
// cfg on the GPU at precision p, on the embedded photos.
func newTrainer(cfg baryir.Config, p baryir.Precision, b, hw int, seed uint64) (*baryir.Trainer, error) {
	tc := baryir.AuthorsTraining(cfg)
	tc.Batch, tc.Patch, tc.Seed, tc.Device, tc.Precision = b, hw, seed, baryir.DeviceGPU, p
	src, err := data.EmbeddedSources(data.ThreeDegradations())
	if err != nil {
		return nil, err
	}
	s, err := data.NewSampler(src, hw, seed)
	if err != nil {
		return nil, err
	}
	return baryir.NewTrainer(tc, s)
}

// trainerBench times baryir's whole Trainer step at p (host sampling of
// the batch included, as a user's loop pays it) and its device memory peak.
func trainerBench(res *result, cfg baryir.Config, p baryir.Precision, b, hw, steps int) error {
	if _, _, err := gpu.SharedMemory(true); err != nil {
		return err
	}
	t0 := time.Now()
	tr, err := newTrainer(cfg, p, b, hw, 1)
	if err != nil {
		return err
	}
	defer tr.Close()
	res.TrainerMakeS = time.Since(t0).Seconds()
	for range 2 { // warm-up: PTX JIT, buffer pool, cuBLASLt plans
		if _, err := tr.Step(); err != nil {
			return err
		}
	}
	for range steps {
		s := time.Now()
		if _, err := tr.Step(); err != nil {
			return err
		}
		res.TrainerStepsMs = append(res.TrainerStepsMs, float64(time.Since(s).Microseconds())/1e3)
	}
	res.TrainerStepMs = median(res.TrainerStepsMs)
	_, peak, err := gpu.SharedMemory(false)
	if err != nil {
		return err
	}
	res.TrainerPeakMiB = float64(peak) / (1 << 20)
	fmt.Printf("%s trainer step (authors' setup, both phases + penalty): made in %.1fs, median %.1f ms %v, peak %.0f MiB\n",
		p, res.TrainerMakeS, res.TrainerStepMs, res.TrainerStepsMs, res.TrainerPeakMiB)
	return nil
}

// track is the accuracy check of reduced precision: the same training
// (seed, batches) at each precision, and the FP32-trained weights restoring
// the embedded test photos at each precision.
type track struct {
	Steps int
	// L1 is each precision's L1 loss per step; FinalL1 its mean over the
	// last tenth of the steps, FinalL1RelDiff that relative to FP32's.
	L1             map[string][]float64
	FinalL1        map[string]float64
	FinalL1RelDiff map[string]float64
	// PSNR is the mean PSNR (dB) over the embedded test photos, each
	// degradation of data.ThreeDegradations, restored with the FP32-trained
	// weights at each precision; PSNRDiffDB is that minus FP32's.
	PSNR       map[string]float64
	PSNRDiffDB map[string]float64
}

func trackBench(cfg baryir.Config, ps []baryir.Precision, b, hw, steps int) (*track, error) {
	t := &track{Steps: steps, L1: map[string][]float64{}, FinalL1: map[string]float64{}, FinalL1RelDiff: map[string]float64{},
		PSNR: map[string]float64{}, PSNRDiffDB: map[string]float64{}}
	var weights baryir.StateDict
	for _, p := range ps {
		tr, err := newTrainer(cfg, p, b, hw, 7)
		if err != nil {
			return t, err
		}
		start := time.Now()
		for i := range steps {
			l, err := tr.Step()
			if err != nil {
				tr.Close()
				return t, fmt.Errorf("%s step %d: %w", p, i+1, err)
			}
			t.L1[p.String()] = append(t.L1[p.String()], l.L1)
		}
		if p == baryir.PrecisionFP32 || weights == nil {
			if weights, err = tr.StateDict(); err != nil {
				tr.Close()
				return t, err
			}
		}
		tr.Close()
		l1 := t.L1[p.String()]
		tail := l1[len(l1)-max(1, len(l1)/10):]
		sum := 0.0
		for _, v := range tail {
			sum += v
		}
		t.FinalL1[p.String()] = sum / float64(len(tail))
		fmt.Printf("track %s: %d steps in %.0fs, L1 %.4f -> %.4f (mean of the last %d: %.5f)\n",
			p, steps, time.Since(start).Seconds(), l1[0], l1[len(l1)-1], len(tail), t.FinalL1[p.String()])
	}
	ref, ok := t.FinalL1[baryir.PrecisionFP32.String()]
	for _, p := range ps {
		if ok {
			t.FinalL1RelDiff[p.String()] = (t.FinalL1[p.String()] - ref) / ref
		}
	}
	meanPSNR := func(p baryir.Precision) (float64, error) {
		r, err := baryir.NewRestorer(cfg, weights, baryir.RestorerOptions{Device: baryir.DeviceGPU, Precision: p})
		if err != nil {
			return 0, err
		}
		defer r.Close()
		var sum float64
		var n int
		for _, deg := range data.ThreeDegradations() {
			degraded, clean := data.EmbeddedEval(deg, 3)
			for i, im := range degraded {
				out, err := r.Restore(im)
				if err != nil {
					return 0, err
				}
				v, err := data.PSNR(clean[i], out)
				if err != nil {
					return 0, err
				}
				sum += v
				n++
			}
		}
		return sum / float64(max(n, 1)), nil
	}
	for _, p := range ps {
		v, err := meanPSNR(p)
		if err != nil {
			return t, err
		}
		t.PSNR[p.String()] = v
	}
	if fp, ok := t.PSNR[baryir.PrecisionFP32.String()]; ok {
		for _, p := range ps {
			t.PSNRDiffDB[p.String()] = t.PSNR[p.String()] - fp
		}
	}
	for _, p := range ps {
		fmt.Printf("track %s: final L1 %+.2f%% vs fp32; PSNR %.3f dB (%+.3f dB vs fp32)\n", p,
			100*t.FinalL1RelDiff[p.String()], t.PSNR[p.String()], t.PSNRDiffDB[p.String()])
	}
	if math.IsNaN(ref) {
		return t, fmt.Errorf("fp32 loss is NaN")
	}
	return t, nil
}
