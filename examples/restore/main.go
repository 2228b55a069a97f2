// Command restore restores images with a trained BaryIR (or Restormer) checkpoint.
//
//	go run ./examples/restore -weights W -in IN -out OUT
//
// W is a .safetensors file with PyTorch state_dict names or a PyTorch .pth
// checkpoint (the authors' or the official Restormer's, as they are); the
// architecture is read from the tensors. IN is an image (.png, .jpg, .jpeg,
// or .npy holding float32 (1,3,H,W) in [0,1], the tensor the PyTorch model
// takes) or a folder of them; OUT is a file or a folder. Outputs are clipped
// to [0,1], as the authors' test script does. -device gpu runs the network
// on an NVIDIA GPU (a binary built with -tags baryirgpu; see baryir.DeviceGPU).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/x/baryir"
	"github.com/x/baryir/data"
	"github.com/x/baryir/internal/progress"
)

func main() {
	weights := flag.String("weights", "", "checkpoint: .safetensors or PyTorch .pth")
	in := flag.String("in", "", "input image (.png, .jpg, .npy) or folder of images")
	out := flag.String("out", "", "output image or folder")
	tile := flag.Int("tile", 256, "largest tile side run in one pass (multiple of 8); bounds memory")
	overlap := flag.Int("overlap", 32, "pixels shared by neighbouring tiles")
	device := flag.String("device", "cpu", "cpu or gpu (gpu needs a build with -tags baryirgpu)")
	flag.Parse()
	if err := run(*weights, *in, *out, *tile, *overlap, *device, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "restore:", err)
		os.Exit(1)
	}
}

var imageExts = []string{".png", ".jpg", ".jpeg", ".npy"}

func run(weights, in, out string, tile, overlap int, device string, log io.Writer) error {
	if weights == "" || in == "" || out == "" {
		return errors.New("-weights, -in and -out are all required")
	}
	dev, err := baryir.ParseDevice(device)
	if err != nil {
		return fmt.Errorf("-device: %w", err)
	}
	if dev == baryir.DeviceGPU && !baryir.GPUAvailable {
		return fmt.Errorf("-device gpu: %w", baryir.ErrNoGPU)
	}
	jobs, err := plan(in, out)
	if err != nil {
		return err
	}
	r, err := baryir.OpenRestorer(weights)
	if err != nil {
		return err
	}
	defer r.Close()
	r.Tile, r.Overlap = tile, overlap
	if err := r.SetDevice(dev); err != nil {
		return fmt.Errorf("-device: %w", err)
	}
	if r.Device() == baryir.DeviceGPU {
		name, _ := baryir.GPUName()
		fmt.Fprintf(log, "restoring on the GPU (%s)\n", name)
	}
	bar := progress.New(log, len(jobs), "restore")
	for _, j := range jobs {
		im, err := data.Load(j.in)
		if err != nil {
			return err
		}
		pix, err := r.Restore(im.Pix, im.H, im.W)
		if err != nil {
			return fmt.Errorf("%s: %w", j.in, err)
		}
		if err := data.Save(j.out, &data.Image{Name: j.out, H: im.H, W: im.W, Pix: pix}); err != nil {
			return err
		}
		bar.Add(1)
	}
	bar.Finish()
	return nil
}

type job struct{ in, out string }

// plan pairs each input with its output path: a file to a file (or into an
// existing folder), a folder's images into a folder of the same names.
func plan(in, out string) ([]job, error) {
	st, err := os.Stat(in)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if o, err := os.Stat(out); err == nil && o.IsDir() {
			out = filepath.Join(out, filepath.Base(in))
		}
		return []job{{in, out}}, nil
	}
	entries, err := os.ReadDir(in)
	if err != nil {
		return nil, err
	}
	var jobs []job
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
			jobs = append(jobs, job{filepath.Join(in, e.Name()), filepath.Join(out, e.Name())})
		}
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("%s: no images (%s) in the folder", in, strings.Join(imageExts, ", "))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	return jobs, nil
}
