// Command restore restores images with a trained BaryIR (or Restormer) checkpoint.
//
//	go run ./examples/restore -weights W -in IN -out OUT [-png16] [-compare CLEAN]
//
// W is a .safetensors file with PyTorch state_dict names or a PyTorch .pth
// checkpoint (the authors' or the official Restormer's, as they are); the
// architecture is read from the tensors. IN is an image (.png, .jpg, .jpeg,
// or .npy holding float32 (1,3,H,W) in [0,1], the tensor the PyTorch model
// takes) or a folder of them; OUT is a file or a folder. Outputs are clipped
// to [0,1], as the authors' test script does. -device gpu runs the network
// on an NVIDIA GPU (a binary built with -tags baryirgpu; see baryir.DeviceGPU).
// -png16 writes 16-bit PNGs, keeping the network's finer tones. -compare
// CLEAN, for a single input, also writes OUT_compare.png: degraded, restored
// and clean side by side with PSNR/SSIM, in the labelled grid of data.Grid.
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
)

func main() {
	weights := flag.String("weights", "", "checkpoint: .safetensors or PyTorch .pth")
	in := flag.String("in", "", "input image (.png, .jpg, .npy) or folder of images")
	out := flag.String("out", "", "output image or folder")
	tile := flag.Int("tile", 256, "largest tile side run in one pass (multiple of 8); bounds memory")
	overlap := flag.Int("overlap", 32, "pixels shared by neighbouring tiles")
	device := flag.String("device", "cpu", "cpu or gpu (gpu needs a build with -tags baryirgpu)")
	var outs outputs
	flag.StringVar(&outs.compare, "compare", "", "clean reference image: also write OUT_compare.png, degraded | restored | clean with PSNR/SSIM (one input only)")
	flag.BoolVar(&outs.png16, "png16", false, "write 16-bit PNGs (in folder mode every output is named .png)")
	flag.Parse()
	if err := run(*weights, *in, *out, *tile, *overlap, *device, outs, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "restore:", err)
		os.Exit(1)
	}
}

var imageExts = []string{".png", ".jpg", ".jpeg", ".npy"}

// outputs says what is written besides one 8-bit restored image per input.
type outputs struct {
	compare string // clean reference for a side-by-side picture (one input only)
	png16   bool   // 16-bit PNG outputs
}

func run(weights, in, out string, tile, overlap int, device string, outs outputs, log io.Writer) error {
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
	var clean *data.Image
	if outs.compare != "" {
		if st, err := os.Stat(in); err == nil && st.IsDir() {
			return fmt.Errorf("-compare %s: needs one input image, not a folder", outs.compare)
		}
		var err error
		if clean, err = data.Load(outs.compare); err != nil {
			return fmt.Errorf("-compare: %w", err)
		}
	}
	jobs, err := plan(in, out, outs.png16)
	if err != nil {
		return err
	}
	save := data.Save
	if outs.png16 {
		save = data.SavePNG16
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
	bar := baryir.NewProgress(log, len(jobs), "restore")
	for _, j := range jobs {
		im, err := data.Load(j.in)
		if err != nil {
			return err
		}
		if clean != nil && (clean.H != im.H || clean.W != im.W) {
			return fmt.Errorf("-compare %s: clean image is %dx%d, the input %dx%d", clean.Name, clean.W, clean.H, im.W, im.H)
		}
		pix, err := r.Restore(im.Pix, im.H, im.W)
		if err != nil {
			return fmt.Errorf("%s: %w", j.in, err)
		}
		restored := &data.Image{Name: j.out, H: im.H, W: im.W, Pix: pix}
		if clean != nil {
			if err := writeCompare(comparePath(j.out), im, restored, clean); err != nil {
				return err
			}
		}
		if err := save(j.out, restored); err != nil {
			return err
		}
		bar.Add(1)
	}
	bar.Finish()
	return nil
}

// writeCompare writes degraded | restored | clean side by side, with the
// PSNR and SSIM of the degraded and the restored image under them.
func writeCompare(path string, degraded, restored, clean *data.Image) error {
	if clean.H != degraded.H || clean.W != degraded.W {
		return fmt.Errorf("-compare %s: clean image is %dx%d, the input %dx%d", clean.Name, clean.W, clean.H, degraded.W, degraded.H)
	}
	caption := func(im *data.Image) (string, error) {
		p, err := data.PSNR(clean, im)
		if err != nil {
			return "", err
		}
		s, err := data.SSIM(clean, im)
		return fmt.Sprintf("PSNR %.2f dB\nSSIM %.3f", p, s), err
	}
	dc, err := caption(degraded)
	if err != nil {
		return err
	}
	rc, err := caption(restored)
	if err != nil {
		return err
	}
	g := data.Grid{
		Title:   filepath.Base(degraded.Name),
		Columns: []string{"degraded", "restored", "clean"},
		Tiles:   [][]data.GridTile{{{Image: degraded, Caption: dc}, {Image: restored, Caption: rc}, {Image: clean}}},
	}
	return g.WritePNG(path)
}

// comparePath is where -compare writes: out.png gives out_compare.png.
func comparePath(out string) string {
	return strings.TrimSuffix(out, filepath.Ext(out)) + "_compare.png"
}

type job struct{ in, out string }

// plan pairs each input with its output path: a file to a file (or into an
// existing folder), a folder's images into a folder of the same names. With
// png16 every output is a PNG: a file output must end in .png, and a
// folder's outputs take the .png extension.
func plan(in, out string, png16 bool) ([]job, error) {
	st, err := os.Stat(in)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if o, err := os.Stat(out); err == nil && o.IsDir() {
			out = filepath.Join(out, filepath.Base(in))
		}
		if png16 && !strings.EqualFold(filepath.Ext(out), ".png") {
			return nil, fmt.Errorf("-png16 writes PNG: output %s does not end in .png", out)
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
			name := e.Name()
			if png16 {
				name = strings.TrimSuffix(name, filepath.Ext(name)) + ".png"
			}
			jobs = append(jobs, job{filepath.Join(in, e.Name()), filepath.Join(out, name)})
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
