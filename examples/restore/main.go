// Command restore restores images with a trained BaryIR (or Restormer, or
// PromptIR) checkpoint.
//
//	go run ./examples/restore -weights W -in IN -out OUT [-png16] [-compare CLEAN]
//
// W is a .safetensors file with PyTorch state_dict names or a PyTorch .pth
// checkpoint (the authors' or the official Restormer's, as they are, or
// PromptIR's released Lightning .ckpt); the architecture (BaryIR, the
// Restormer, PromptIR, BaryIR on PromptIR) is read from the tensors.
// PromptIR restores every image in one pass, whatever -tile says (its
// prompts are weighed by the whole image's mean); an image that needs more
// than -memory-mib then fails with what it needs. IN is an image (.png, .jpg, .jpeg,
// .bmp, .tif, .tiff, .webp, or .npy holding float32 (1,3,H,W) in [0,1], the
// tensor the PyTorch model takes) or a folder of them; OUT is a file or a
// folder (BMP, TIFF and WebP inputs are written as PNG). Outputs are clipped
// to [0,1], as the authors' test script does. Every argument is checked
// before the weights are read; in folder mode a bad image does not stop the
// others, the failures are listed at the end and the exit status is 1.
//
// The command never writes over its inputs: before any work, every output
// (OUT, the _compare picture, each output of a folder) is compared with
// every input (the images, -compare, -weights) by file identity, links
// included, and by canonical path for outputs not written yet (data.Guard);
// outputs are written atomically under a short temporary name, and their
// folders are checked writable first. Only regular files are read: a named
// pipe or a device as an input is refused (in a folder, listed as a failure
// while the others go on). Reads are bounded: an image file holds at most
// 16 bytes a pixel of -max-pixels plus 16 MiB (data.Loader.MaxBytes; 1 GB
// at the default), a JPEG at most data.MaxJPEGScans (256) scans, and the
// weights file at most baryir.MaxWeightsBytes (2 GiB). -device gpu runs the network
// on an NVIDIA GPU (a binary built with -tags baryirgpu; see baryir.DeviceGPU).
// An image runs in one pass when the network's working set on it fits
// -memory-mib (2 GiB by default: a 590x590 photo with the Paper preset);
// a larger one is cut into the largest tiles that fit (or into -tile
// tiles), run -passes times so that they share the whole image's attention
// (baryir.Restorer), and a progress line per image advances with every
// tile run, so a 12-megapixel photo shows how far it is. -png16 writes 16-bit PNGs, keeping the network's finer tones. -compare
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
	var o options
	flag.StringVar(&o.weights, "weights", "", "checkpoint: .safetensors or PyTorch .pth")
	flag.StringVar(&o.in, "in", "", "input image ("+strings.Join(inputExts, ", ")+") or folder of them")
	flag.StringVar(&o.out, "out", "", "output image (.png, .jpg, .jpeg, .npy) or folder")
	flag.IntVar(&o.memoryMiB, "memory-mib", int(baryir.DefaultMemoryBudget>>20), "memory for restoring one image, in MiB: an image whose working set fits runs in one pass, a larger one in the largest tiles that fit")
	flag.IntVar(&o.tile, "tile", 0, "largest tile side (multiple of 8), whatever -memory-mib allows; 0: the budget decides")
	flag.IntVar(&o.overlap, "overlap", 32, "pixels shared by neighbouring tiles")
	flag.IntVar(&o.passes, "passes", 3, "passes over the tiles of a large image: 1 gives each tile its own attention, 2+ share the whole image's (closer to one pass, each pass costing one more run of every tile)")
	flag.IntVar(&o.maxPixels, "max-pixels", data.DefaultMaxPixels, "largest input image (height x width) read; larger ones are refused before decoding")
	flag.StringVar(&o.device, "device", "cpu", "cpu or gpu (gpu needs a build with -tags baryirgpu)")
	flag.StringVar(&o.precision, "precision", "fp32", "fp32, or tf32 or bf16 for the GPU's matrix products and convolutions (needs cuBLASLt)")
	flag.StringVar(&o.compare, "compare", "", "clean reference image: also write OUT_compare.png, degraded | restored | clean with PSNR/SSIM (one input only)")
	flag.BoolVar(&o.png16, "png16", false, "write 16-bit PNGs (in folder mode every output is named .png)")
	flag.Parse()
	if err := run(o, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "restore:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	weights, in, out, device         string
	precision                        string
	memoryMiB                        int
	tile, overlap, passes, maxPixels int
	compare                          string // clean reference for a side-by-side picture (one input only)
	png16                            bool   // 16-bit PNG outputs
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
	case o.memoryMiB <= 0:
		return fmt.Errorf("-memory-mib %d: want a positive number of MiB", o.memoryMiB)
	case o.tile < 0 || o.tile%8 != 0:
		return fmt.Errorf("-tile %d: want 0 or a positive multiple of 8", o.tile)
	case o.overlap <= 0:
		return fmt.Errorf("-overlap %d: want a positive number of pixels", o.overlap)
	case o.tile > 0 && o.overlap >= o.tile:
		return fmt.Errorf("-overlap %d: want less than -tile %d", o.overlap, o.tile)
	case o.passes < 1:
		return fmt.Errorf("-passes %d: want at least 1", o.passes)
	case o.maxPixels <= 0:
		return fmt.Errorf("-max-pixels %d: want a positive pixel count", o.maxPixels)
	}
	if d, err := baryir.ParseDevice(o.device); err != nil {
		return fmt.Errorf("-device: %w", err)
	} else if d == baryir.DeviceGPU && !baryir.GPUAvailable {
		return fmt.Errorf("-device gpu: %w", baryir.ErrNoGPU)
	}
	if p, err := baryir.ParsePrecision(o.precision); err != nil {
		return fmt.Errorf("-precision: %w", err)
	} else if p != baryir.PrecisionFP32 && baryir.Device(o.device) != baryir.DeviceGPU {
		return fmt.Errorf("-precision %s: needs -device gpu (the CPU computes in float32 only)", p)
	}
	if o.compare != "" {
		if st, err := os.Stat(o.in); err == nil && st.IsDir() {
			return fmt.Errorf("-compare %q: needs one input image, not a folder", o.compare)
		}
	}
	if o.png16 && !strings.EqualFold(filepath.Ext(o.out), ".png") {
		if st, err := os.Stat(o.in); err == nil && !st.IsDir() {
			if st, err := os.Stat(o.out); err != nil || !st.IsDir() {
				return fmt.Errorf("-png16 writes PNG: output %q does not end in .png", o.out)
			}
		}
	}
	return nil
}

func run(o options, log io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	jobs, folder, err := plan(o.in, o.out, o.png16)
	if err != nil {
		return err
	}
	jobs, failed, err := guard(o, jobs, folder)
	if err != nil {
		return err
	}
	skipped := len(failed)
	device, _ := baryir.ParseDevice(o.device)          // checked above
	precision, _ := baryir.ParsePrecision(o.precision) // checked above
	bar := &progress{log: log}
	r, err := baryir.OpenRestorer(o.weights, baryir.RestorerOptions{
		OnTile:       bar.tile,
		Device:       device,
		Precision:    precision,
		MemoryBudget: int64(o.memoryMiB) << 20,
		Tile:         o.tile,
		Overlap:      o.overlap,
		Passes:       o.passes,
	})
	if err != nil {
		return err
	}
	defer r.Close()
	if device == baryir.DeviceGPU {
		fmt.Fprintf(log, "restoring on the GPU (%s)\n", precision)
	}
	if folder { // the output folder is made once the weights are known good
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
	}
	loader := data.Loader{MaxPixels: o.maxPixels}
	var clean *data.Image
	if o.compare != "" {
		if clean, err = loader.Load(o.compare); err != nil {
			return fmt.Errorf("-compare: %w", err)
		}
	}
	save := data.Save
	if o.png16 {
		save = data.SavePNG16
	}
	for i, j := range jobs {
		bar.label = fmt.Sprintf("restore %q", filepath.Base(j.in))
		if folder {
			bar.label = fmt.Sprintf("restore %d/%d %q", i+1, len(jobs), filepath.Base(j.in))
		}
		if err := restoreOne(r, loader, j, save, clean, bar); err != nil {
			if !folder {
				return err
			}
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d images failed:\n  %s", len(failed), len(jobs)+skipped, strings.Join(failed, "\n  "))
	}
	return nil
}

// progress is the line an image's restore writes on log: its label, then
// the tiles done as they run (RestorerOptions.OnTile).
type progress struct {
	log   io.Writer
	label string // what is being restored
	line  string // the label with the image's size and tiling
}

func (p *progress) tile(done, total int) {
	if total > 1 {
		fmt.Fprintf(p.log, "\r%s: %d/%d", p.line, done, total)
	}
}

// restoreOne reads, restores and writes one image, writing a progress line
// on bar.log that advances with every tile; its errors name the file.
// With clean set, it also writes the side-by-side comparison.
func restoreOne(r *baryir.Restorer, loader data.Loader, j job, save func(string, *data.Image) error, clean *data.Image, bar *progress) error {
	im, err := loader.Load(j.in)
	if err != nil {
		return err
	}
	if clean != nil && (clean.H != im.H || clean.W != im.W) {
		return fmt.Errorf("-compare %q: clean image is %dx%d, the input %dx%d", clean.Name, clean.W, clean.H, im.W, im.H)
	}
	tiles, passes, err := r.Tiles(im.H, im.W)
	if err != nil {
		return fmt.Errorf("%q: %w", j.in, err)
	}
	what := "one pass"
	if tiles > 1 {
		what = fmt.Sprintf("%d tiles x %d passes", tiles, passes)
	}
	bar.line = fmt.Sprintf("%s (%dx%d, %s)", bar.label, im.W, im.H, what)
	fmt.Fprintf(bar.log, "%s ...", bar.line)
	restored, err := r.Restore(im)
	fmt.Fprintln(bar.log)
	if err != nil {
		return fmt.Errorf("%q: %w", j.in, err)
	}
	restored.Name = j.out
	if clean == nil {
		im = nil // the input's pixels are not needed any more: free them before encoding
	}
	if clean != nil {
		if err := writeCompare(comparePath(j.out), im, restored, clean); err != nil {
			return err
		}
	}
	return save(j.out, restored)
}

// writeCompare writes degraded | restored | clean side by side, with the
// PSNR and SSIM of the degraded and the restored image under them.
func writeCompare(path string, degraded, restored, clean *data.Image) error {
	if clean.H != degraded.H || clean.W != degraded.W {
		return fmt.Errorf("-compare %q: clean image is %dx%d, the input %dx%d", clean.Name, clean.W, clean.H, degraded.W, degraded.H)
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
// existing folder), a folder's images into a folder of the same names. It
// refuses output formats that cannot be written before anything is read.
// folder is true when in is a folder.
func plan(in, out string, png16 bool) (jobs []job, folder bool, err error) {
	st, err := os.Stat(in)
	if err != nil {
		return nil, false, fmt.Errorf("-in %q: %w", in, errors.Unwrap(err))
	}
	jobs, err = planJobs(in, out, st.IsDir(), png16)
	return jobs, st.IsDir(), err
}

func planJobs(in, out string, folder, png16 bool) ([]job, error) {
	if !folder {
		if !hasExt(in, inputExts) {
			return nil, fmt.Errorf("-in %q: not an image this command reads (%s)", in, strings.Join(inputExts, ", "))
		}
		if o, err := os.Stat(out); err == nil && o.IsDir() {
			out = filepath.Join(out, outputName(filepath.Base(in), png16))
		} else if !hasExt(out, outputExts) {
			return nil, fmt.Errorf("-out %q: unknown output format (want %s)", out, strings.Join(outputExts, ", "))
		} else if d, err := os.Stat(filepath.Dir(out)); err != nil || !d.IsDir() {
			return nil, fmt.Errorf("-out %q: folder %q does not exist", out, filepath.Dir(out))
		}
		return []job{{in, out}}, nil
	}
	if o, err := os.Stat(out); err == nil && !o.IsDir() {
		return nil, fmt.Errorf("-out %q: -in is a folder, so -out must be a folder too", out)
	} else if err != nil {
		if d, err := os.Stat(filepath.Dir(filepath.Clean(out))); err != nil || !d.IsDir() {
			return nil, fmt.Errorf("-out %q: its parent folder does not exist", out)
		}
	}
	entries, err := os.ReadDir(in)
	if err != nil {
		return nil, fmt.Errorf("-in %q: %w", in, errors.Unwrap(err))
	}
	var jobs []job
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && hasExt(e.Name(), inputExts) {
			jobs = append(jobs, job{filepath.Join(in, e.Name()), filepath.Join(out, outputName(e.Name(), png16))})
		}
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("-in %q: no images (%s) in the folder", in, strings.Join(inputExts, ", "))
	}
	return jobs, nil
}

// guard checks, before the weights are read, that no output replaces an
// input (an image, -compare, -weights) or another output, and that the
// outputs' folders are writable (data.Guard). In folder mode an image that
// is not a regular file is left out and its error returned in skipped; the
// others go on.
func guard(o options, jobs []job, folder bool) (kept []job, skipped []string, err error) {
	var g data.Guard
	if err := g.Input("-weights", o.weights); err != nil {
		return nil, nil, err
	}
	if o.compare != "" {
		if err := g.Input("-compare", o.compare); err != nil {
			return nil, nil, err
		}
	}
	if folder {
		if err := g.Input("-in", o.in); err != nil {
			return nil, nil, err
		}
		if err := g.OutputFolder("-out", o.out); err != nil {
			return nil, nil, err
		}
	}
	for _, j := range jobs {
		if err := g.Input("-in", j.in); err != nil {
			if !folder {
				return nil, nil, err
			}
			skipped = append(skipped, err.Error())
			continue
		}
		kept = append(kept, j)
	}
	for _, j := range kept {
		what := "-out"
		if folder {
			what = fmt.Sprintf("-out (from %q)", filepath.Base(j.in))
		}
		if err := g.Output(what, j.out); err != nil {
			return nil, nil, err
		}
		if o.compare != "" {
			if err := g.Output("the -compare picture", comparePath(j.out)); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(kept) == 0 {
		return nil, nil, fmt.Errorf("-in %q: no image is a regular file:\n  %s", o.in, strings.Join(skipped, "\n  "))
	}
	return kept, skipped, nil
}

func hasExt(name string, exts []string) bool {
	return slices.Contains(exts, strings.ToLower(filepath.Ext(name)))
}

// outputName is the output file name for an input name: the same, or with
// .png when the input's format is not written or PNG16 is asked for.
func outputName(name string, png16 bool) string {
	if hasExt(name, outputExts) && (!png16 || strings.EqualFold(filepath.Ext(name), ".png")) {
		return name
	}
	return strings.TrimSuffix(name, filepath.Ext(name)) + ".png"
}
