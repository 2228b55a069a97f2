// Command restore restores images with a trained BaryIR (or Restormer) checkpoint.
//
//	go run ./examples/restore -weights W -in IN -out OUT
//
// W is a .safetensors file with PyTorch state_dict names or a PyTorch .pth
// checkpoint (the authors' or the official Restormer's, as they are); the
// architecture is read from the tensors. IN is an image (.png, .jpg, .jpeg,
// .bmp, .tif, .tiff, .webp, or .npy holding float32 (1,3,H,W) in [0,1], the
// tensor the PyTorch model takes) or a folder of them; OUT is a file or a
// folder (BMP, TIFF and WebP inputs are written as PNG). Outputs are clipped
// to [0,1], as the authors' test script does. Every argument is checked
// before the weights are read; in folder mode a bad image does not stop the
// others, the failures are listed at the end and the exit status is 1. The
// command never writes over its inputs. -device gpu runs the network
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
	var o options
	flag.StringVar(&o.weights, "weights", "", "checkpoint: .safetensors or PyTorch .pth")
	flag.StringVar(&o.in, "in", "", "input image ("+strings.Join(inputExts, ", ")+") or folder of them")
	flag.StringVar(&o.out, "out", "", "output image (.png, .jpg, .jpeg, .npy) or folder")
	flag.IntVar(&o.tile, "tile", 256, "largest tile side run in one pass (multiple of 8); bounds memory")
	flag.IntVar(&o.overlap, "overlap", 32, "pixels shared by neighbouring tiles")
	flag.IntVar(&o.maxPixels, "max-pixels", data.DefaultMaxPixels, "largest input image (height x width) read; larger ones are refused before decoding")
	flag.StringVar(&o.device, "device", "cpu", "cpu or gpu (gpu needs a build with -tags baryirgpu)")
	flag.Parse()
	if err := run(o, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "restore:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	weights, in, out, device string
	tile, overlap, maxPixels int
}

// inputExts are the inputs read, in file and folder mode alike.
var inputExts = []string{".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".npy"}

// outputExts are the formats written. An input of another format (BMP,
// TIFF, WebP) is written as PNG when its output name comes from its own.
var outputExts = []string{".png", ".jpg", ".jpeg", ".npy"}

// check validates every argument that can be checked without the weights,
// so that a mistake costs no checkpoint read.
func (o options) check() error {
	switch {
	case o.weights == "" || o.in == "" || o.out == "":
		return errors.New("-weights, -in and -out are all required")
	case o.tile < 8 || o.tile%8 != 0:
		return fmt.Errorf("-tile %d: want a positive multiple of 8", o.tile)
	case o.overlap < 0 || o.overlap >= o.tile:
		return fmt.Errorf("-overlap %d: want at least 0 and less than -tile %d", o.overlap, o.tile)
	case o.maxPixels <= 0:
		return fmt.Errorf("-max-pixels %d: want a positive pixel count", o.maxPixels)
	case o.device != baryir.DeviceCPU && o.device != baryir.DeviceGPU:
		return fmt.Errorf("-device: unknown device %q (want cpu or gpu)", o.device)
	case o.device == baryir.DeviceGPU && !baryir.GPUAvailable:
		return fmt.Errorf("-device gpu: %w", baryir.ErrNoGPU)
	}
	if _, err := os.Stat(o.weights); err != nil {
		return fmt.Errorf("-weights: %w", err)
	}
	return nil
}

func run(o options, log io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	jobs, folder, err := plan(o.in, o.out)
	if err != nil {
		return err
	}
	r, err := baryir.OpenRestorer(o.weights)
	if err != nil {
		return err
	}
	defer r.Close()
	r.Tile, r.Overlap = o.tile, o.overlap
	if err := r.SetDevice(o.device); err != nil {
		return fmt.Errorf("-device: %w", err)
	}
	if r.Device() == baryir.DeviceGPU {
		name, _ := baryir.GPUName()
		fmt.Fprintf(log, "restoring on the GPU (%s)\n", name)
	}
	if folder { // the output folder is made once the weights are known good
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
	}
	loader := data.Loader{MaxPixels: o.maxPixels}
	bar := progress.New(log, len(jobs), "restore")
	var failed []string
	for _, j := range jobs {
		if err := restoreOne(r, loader, j); err != nil {
			if !folder {
				return err
			}
			failed = append(failed, err.Error())
		}
		bar.Add(1)
	}
	bar.Finish()
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d images failed:\n  %s", len(failed), len(jobs), strings.Join(failed, "\n  "))
	}
	return nil
}

// restoreOne reads, restores and writes one image; its errors name the file.
func restoreOne(r *baryir.Restorer, loader data.Loader, j job) error {
	im, err := loader.Load(j.in)
	if err != nil {
		return err
	}
	pix, err := r.Restore(im.Pix, im.H, im.W)
	if err != nil {
		return fmt.Errorf("%s: %w", j.in, err)
	}
	return data.Save(j.out, &data.Image{Name: j.out, H: im.H, W: im.W, Pix: pix})
}

type job struct{ in, out string }

// plan pairs each input with its output path: a file to a file (or into an
// existing folder), a folder's images into a folder of the same names. It
// refuses outputs that would overwrite an input or each other, and output
// formats that cannot be written, before anything is read. folder is true
// when in is a folder.
func plan(in, out string) (jobs []job, folder bool, err error) {
	st, err := os.Stat(in)
	if err != nil {
		return nil, false, fmt.Errorf("-in: %w", err)
	}
	jobs, err = planJobs(in, out, st.IsDir())
	if err == nil {
		err = checkOutputs(jobs)
	}
	return jobs, st.IsDir(), err
}

func planJobs(in, out string, folder bool) ([]job, error) {
	var jobs []job
	if !folder {
		if !hasExt(in, inputExts) {
			return nil, fmt.Errorf("-in %s: not an image this command reads (%s)", in, strings.Join(inputExts, ", "))
		}
		if o, err := os.Stat(out); err == nil && o.IsDir() {
			out = filepath.Join(out, outputName(filepath.Base(in)))
		} else if !hasExt(out, outputExts) {
			return nil, fmt.Errorf("-out %s: unknown output format (want %s)", out, strings.Join(outputExts, ", "))
		} else if d, err := os.Stat(filepath.Dir(out)); err != nil || !d.IsDir() {
			return nil, fmt.Errorf("-out %s: folder %s does not exist", out, filepath.Dir(out))
		}
		jobs = []job{{in, out}}
	} else {
		if o, err := os.Stat(out); err == nil && !o.IsDir() {
			return nil, fmt.Errorf("-out %s: -in is a folder, so -out must be a folder too", out)
		} else if err != nil {
			if d, err := os.Stat(filepath.Dir(filepath.Clean(out))); err != nil || !d.IsDir() {
				return nil, fmt.Errorf("-out %s: its parent folder does not exist", out)
			}
		}
		if same, err := sameFile(in, out); err != nil || same {
			return nil, fmt.Errorf("-in and -out are the same folder %s: the inputs would be overwritten", in)
		}
		entries, err := os.ReadDir(in)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && hasExt(e.Name(), inputExts) {
				jobs = append(jobs, job{filepath.Join(in, e.Name()), filepath.Join(out, outputName(e.Name()))})
			}
		}
		if len(jobs) == 0 {
			return nil, fmt.Errorf("%s: no images (%s) in the folder", in, strings.Join(inputExts, ", "))
		}
	}
	return jobs, nil
}

// checkOutputs refuses two inputs written to one output, and an output that
// is one of the inputs.
func checkOutputs(jobs []job) error {
	from := map[string]string{}
	for _, j := range jobs {
		if prev, ok := from[j.out]; ok {
			return fmt.Errorf("%s and %s would both be written to %s", prev, j.in, j.out)
		}
		from[j.out] = j.in
		for _, k := range jobs {
			if same, _ := sameFile(k.in, j.out); same {
				return fmt.Errorf("%s would overwrite the input %s", j.out, k.in)
			}
		}
	}
	return nil
}

// sameFile reports whether a and b name one file or folder (b may not exist yet).
func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		if os.IsNotExist(err) {
			return false, nil
		}
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

func hasExt(name string, exts []string) bool {
	return slices.Contains(exts, strings.ToLower(filepath.Ext(name)))
}

// outputName is the output file name for an input name: the same, or with
// .png when the input's format is not written.
func outputName(name string) string {
	if hasExt(name, outputExts) {
		return name
	}
	return strings.TrimSuffix(name, filepath.Ext(name)) + ".png"
}
