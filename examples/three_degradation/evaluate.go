package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
)

// unseenResult is one test condition's figures: PSNR (dB) and SSIM of the
// degraded input and of the restoration against the clean image, averaged
// over the condition's images.
type unseenResult struct {
	Task                       string
	DegradedPSNR, DegradedSSIM float64
	RestoredPSNR, RestoredSSIM float64
	Images                     int
	// Example is the first image degraded, restored and clean, for a picture grid.
	Example [3]*data.Image
}

// gain is the PSNR the restoration adds, in dB.
func (u unseenResult) gain() float64 { return u.RestoredPSNR - u.DegradedPSNR }

// unseenConditions are the unseen test conditions of the paper's
// generalisation tables, for a model trained on the three degradations
// (noise at sigma 15/25/50, Rain100L-like rain, haze): severe noise (Tab. VI;
// the paper's exact levels are lost from its text, so 60 and 75), JPEG at
// quality 10 (Tab. IV), rain about four times as dense with twice as long
// streaks (Rain100H-like), motion blur and low light (types it never saw),
// and mixtures as in the composite tests (Tab. VII-VIII).
func unseenConditions() []data.Spec {
	return []data.Spec{
		data.Noise(60),
		data.Noise(75),
		data.JPEG(10),
		data.RainSpec(0.025, 30),
		data.MotionBlur(11),
		data.LowLightSpec(0.25),
		data.Mix(data.RainSpec(0.01, 0), data.Noise(15)),
		data.Mix(data.HazeSpec(1), data.Noise(15)),
		data.Mix(data.LowLightSpec(0.35), data.Noise(15)),
	}
}

// evaluateUnseen degrades every clean image by every spec and restores it
// with r. Image i is degraded with a generator seeded by (seed, i), as
// data.EmbeddedEval seeds its sets, so a condition's test set is fixed by
// the seed and the same for every model. Progress, if not nil, gets a line
// per condition.
func evaluateUnseen(r *baryir.Restorer, specs []data.Spec, clean []*data.Image, seed uint64, progress io.Writer) ([]unseenResult, error) {
	if len(clean) == 0 {
		return nil, fmt.Errorf("evaluate unseen: no clean images")
	}
	out := make([]unseenResult, 0, len(specs))
	start := time.Now()
	for k, s := range specs {
		degraded := make([]*data.Image, len(clean))
		for i, c := range clean {
			var err error
			if degraded[i], err = s.Apply(c, rand.New(rand.NewPCG(seed, uint64(i)))); err != nil {
				return nil, fmt.Errorf("evaluate unseen: %w", err)
			}
		}
		res, err := evaluatePairs(r, s.String(), degraded, clean)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
		if progress != nil {
			el := time.Since(start)
			eta := el / time.Duration(k+1) * time.Duration(len(specs)-k-1)
			fmt.Fprintf(progress, "unseen %d/%d %-22s %6.2f -> %6.2f dB (%.1f s/condition, ETA %s)\n", k+1, len(specs),
				s, res.DegradedPSNR, res.RestoredPSNR, el.Seconds()/float64(k+1), eta.Round(time.Second))
		}
	}
	return out, nil
}

// evaluatePairs restores each degraded image with r and scores it and the
// input against its clean target; a stored benchmark (Rain100H, O-HAZE,
// LOL-v2 ...) is evaluated this way.
func evaluatePairs(r *baryir.Restorer, task string, degraded, clean []*data.Image) (unseenResult, error) {
	res := unseenResult{Task: task, Images: len(degraded)}
	if len(degraded) == 0 || len(degraded) != len(clean) {
		return res, fmt.Errorf("evaluate %s: %d degraded and %d clean images", task, len(degraded), len(clean))
	}
	n := float64(len(degraded))
	for i, d := range degraded {
		restored, err := r.Restore(d)
		if err != nil {
			return res, fmt.Errorf("evaluate %s: %s: %w", task, d.Name, err)
		}
		for _, m := range []struct {
			im         *data.Image
			psnr, ssim *float64
		}{{d, &res.DegradedPSNR, &res.DegradedSSIM}, {restored, &res.RestoredPSNR, &res.RestoredSSIM}} {
			p, err := data.PSNR(clean[i], m.im)
			if err != nil {
				return res, fmt.Errorf("evaluate %s: %w", task, err)
			}
			s, err := data.SSIM(clean[i], m.im)
			if err != nil {
				return res, fmt.Errorf("evaluate %s: %w", task, err)
			}
			*m.psnr += p / n
			*m.ssim += s / n
		}
		if i == 0 {
			res.Example = [3]*data.Image{d, restored, clean[i]}
		}
	}
	return res, nil
}
