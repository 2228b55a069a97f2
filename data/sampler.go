package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Source is one training domain of the barycenter: samples that share a
// potential network. A sample is either a stored (degraded, clean) pair or a
// clean image with a degradation synthesised on each draw.
type Source struct {
	Name string
	// Repeat is how many times each sample appears per epoch (0 counts as 1);
	// it scales Len and hence the barycenter weights, as the authors'
	// list repetition does.
	Repeat  int
	samples []sample
}

// sample is one entry of a Source; exactly one of clean, cleanPath, pair is set.
type sample struct {
	deg       Degradation
	clean     *Image // in memory, degraded on the fly
	cleanPath string // on disk, degraded on the fly
	pair      Pair   // stored degraded image and target
}

func (s sample) name() string {
	switch {
	case s.clean != nil:
		return s.clean.Name
	case s.cleanPath != "":
		return s.cleanPath
	}
	return s.pair.Degraded
}

// Len is the number of samples per epoch, Repeat included.
func (s *Source) Len() int { return len(s.samples) * max(s.Repeat, 1) }

// NewSyntheticSource makes a source whose samples are every clean image with
// every degradation in degs, applied to the patch when it is drawn (the
// authors add noise to the cropped, augmented uint8 patch the same way).
func NewSyntheticSource(name string, clean []*Image, degs ...Degradation) (*Source, error) {
	if len(clean) == 0 || len(degs) == 0 {
		return nil, fmt.Errorf("data: source %q: no clean images or no degradations", name)
	}
	s := &Source{Name: name}
	for _, d := range degs {
		for _, im := range clean {
			s.samples = append(s.samples, sample{deg: d, clean: im})
		}
	}
	return s, nil
}

// NewSyntheticFileSource is NewSyntheticSource for clean images on disk,
// read each time a sample is drawn (benchmarks do not fit in memory).
func NewSyntheticFileSource(name string, cleanFiles []string, degs ...Degradation) (*Source, error) {
	if len(cleanFiles) == 0 || len(degs) == 0 {
		return nil, fmt.Errorf("data: source %q: no clean files or no degradations", name)
	}
	s := &Source{Name: name}
	for _, d := range degs {
		for _, f := range cleanFiles {
			s.samples = append(s.samples, sample{deg: d, cleanPath: f})
		}
	}
	return s, nil
}

// NewPairSource makes a source of stored pairs, all labelled deg; the images
// are read each time a sample is drawn.
func NewPairSource(name string, deg Degradation, pairs []Pair) (*Source, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("data: source %q: no pairs", name)
	}
	s := &Source{Name: name}
	for _, p := range pairs {
		s.samples = append(s.samples, sample{deg: deg, pair: p})
	}
	return s, nil
}

// Batch is one training step's data. Degraded and Clean are (B,3,P,P)
// float32 in [0,1]. Source[i] is the index of sample i's Source (the
// potential it trains, and the grouping of the barycenter weights);
// Degradation[i] is its finer label, which the authors' contrastive loss
// compares (each noise level separately).
type Batch struct {
	B, P            int
	Degraded, Clean []float32
	Source          []int
	Degradation     []Degradation
	Names           []string // file or embedded name of each sample, for logs
}

// Sampler draws random P×P patches from a list of sources, the way the
// authors' DataLoader does over their concatenated sample list: every epoch
// visits each sample (Repeat times) in a seeded random order; each draw
// crops the image centrally to a multiple of 16, takes a random P×P window,
// applies one of the 8 flips/rotations (the same to input and target) and,
// for synthetic samples, degrades the patch. Everything random comes from
// one generator seeded at construction, so a seed fixes every batch.
// Synthetic degradations are applied to the patch, not the whole image, so
// a haze depth map or a rain layer spans the patch. A Sampler is not safe
// for concurrent use.
type Sampler struct {
	// Loader reads the samples stored in files; the zero value allows
	// images of up to DefaultMaxPixels.
	Loader Loader

	sources []*Source
	patch   int
	rng     *rand.Rand // the epochs' order
	draws   *rand.Rand // crops, flips, degradations: rng unless sharded
	order   [][2]int   // (source, sample) visits of the current epoch
	pos     int
	epoch   int

	rank, ranks int // this rank's shard of each epoch, when ranks > 1
}

// SamplerOption changes how a Sampler draws (see Shard).
type SamplerOption func(*Sampler) error

// Shard makes the sampler draw rank's share of every epoch, for a
// data-parallel job of size ranks (each with its own Sampler made with the
// same sources and seed). Every rank shuffles each epoch alike, pads it with
// its first visits to a multiple of size and takes visits rank, rank+size,
// rank+2*size, ..., as PyTorch's DistributedSampler does: the ranks' epochs
// are disjoint but for the padding, have equal lengths, and together visit
// every sample. Crops, flips and synthetic degradations come from a
// generator of the rank's own, seeded by seed and rank. Counts stays the
// whole data's, so every rank computes the same barycenter weights.
// Shard(0, 1) is the unsharded sampler.
func Shard(rank, size int) SamplerOption {
	return func(s *Sampler) error {
		if size < 1 || rank < 0 || rank >= size {
			return fmt.Errorf("data: NewSampler: shard %d of %d", rank, size)
		}
		s.rank, s.ranks = rank, size
		return nil
	}
}

// NewSampler checks the sources and patch size (no sample may be smaller
// than the patch) and shuffles the first epoch.
func NewSampler(sources []*Source, patch int, seed uint64, opts ...SamplerOption) (*Sampler, error) {
	if len(sources) == 0 {
		return nil, errors.New("data: NewSampler: no sources")
	}
	if patch <= 0 {
		return nil, fmt.Errorf("data: NewSampler: patch size %d", patch)
	}
	for i, s := range sources {
		if s == nil || len(s.samples) == 0 {
			return nil, fmt.Errorf("data: NewSampler: source %d is empty", i)
		}
	}
	if err := checkPatch(sources, patch); err != nil {
		return nil, err
	}
	const stream = 0x626172796972
	sm := &Sampler{sources: sources, patch: patch, rng: rand.New(rand.NewPCG(seed, stream))}
	for _, o := range opts {
		if err := o(sm); err != nil {
			return nil, err
		}
	}
	sm.draws = sm.rng
	if sm.ranks > 1 {
		sm.draws = rand.New(rand.NewPCG(seed, stream^uint64(sm.rank+1)*0x9e3779b97f4a7c15))
	}
	sm.shuffle()
	return sm, nil
}

func (s *Sampler) shuffle() {
	s.order = s.order[:0]
	for si, src := range s.sources {
		for r := 0; r < max(src.Repeat, 1); r++ {
			for k := range src.samples {
				s.order = append(s.order, [2]int{si, k})
			}
		}
	}
	s.rng.Shuffle(len(s.order), func(i, j int) { s.order[i], s.order[j] = s.order[j], s.order[i] })
	s.pos = 0
	if s.ranks > 1 {
		n := len(s.order)
		shard := make([][2]int, (n+s.ranks-1)/s.ranks)
		for i := range shard {
			shard[i] = s.order[(s.rank+i*s.ranks)%n]
		}
		s.order = shard
	}
}

// Counts returns each source's samples per epoch, Repeat included: the
// authors' get_num_samples, from which the barycenter weights follow
// (ot.Weights turns them into weights).
func (s *Sampler) Counts() []int {
	out := make([]int, len(s.sources))
	for i, src := range s.sources {
		out[i] = src.Len()
	}
	return out
}

// SourceNames returns the source names by id.
func (s *Sampler) SourceNames() []string {
	out := make([]string, len(s.sources))
	for i, src := range s.sources {
		out[i] = src.Name
	}
	return out
}

// Shard is the rank and size given by the Shard option: (0, 1) without it.
func (s *Sampler) Shard() (rank, size int) { return s.rank, max(s.ranks, 1) }

// Epoch is the number of completed passes over all samples.
func (s *Sampler) Epoch() int { return s.epoch }

// Next returns b patches. Batches run on across epoch boundaries, so every
// batch is full. An unreadable image, a pair whose sizes differ or an image
// smaller than the patch is an error naming the file.
func (s *Sampler) Next(b int) (*Batch, error) {
	if b <= 0 {
		return nil, fmt.Errorf("data: Next: batch size %d", b)
	}
	p := s.patch
	out := &Batch{B: b, P: p, Degraded: make([]float32, 0, b*3*p*p), Clean: make([]float32, 0, b*3*p*p)}
	for i := 0; i < b; i++ {
		if s.pos == len(s.order) {
			s.epoch++
			s.shuffle()
		}
		ref := s.order[s.pos]
		s.pos++
		smp := s.sources[ref[0]].samples[ref[1]]
		deg, clean, err := s.draw(smp)
		if err != nil {
			return nil, err
		}
		out.Degraded = append(out.Degraded, deg.Pix...)
		out.Clean = append(out.Clean, clean.Pix...)
		out.Source = append(out.Source, ref[0])
		out.Degradation = append(out.Degradation, smp.deg)
		out.Names = append(out.Names, smp.name())
	}
	return out, nil
}

// draw makes one (degraded, clean) patch pair from a sample.
func (s *Sampler) draw(smp sample) (deg, clean *Image, err error) {
	var full, fullDeg *Image
	switch {
	case smp.clean != nil:
		full = smp.clean
	case smp.cleanPath != "":
		if full, err = s.Loader.Load(smp.cleanPath); err != nil {
			return nil, nil, err
		}
	default:
		if fullDeg, full, err = s.Loader.LoadPair(smp.pair); err != nil {
			return nil, nil, err
		}
		if fullDeg, err = CropToMultiple(fullDeg, 16); err != nil {
			return nil, nil, err
		}
	}
	if full, err = CropToMultiple(full, 16); err != nil {
		return nil, nil, err
	}
	if full.H < s.patch || full.W < s.patch {
		return nil, nil, fmt.Errorf("data: %s: image is %dx%d after cropping to a multiple of 16, smaller than the %dx%d patch",
			smp.name(), full.H, full.W, s.patch, s.patch)
	}
	y, x := s.draws.IntN(full.H-s.patch+1), s.draws.IntN(full.W-s.patch+1)
	mode := s.draws.IntN(8)
	clean, err = full.Crop(y, x, s.patch, s.patch)
	if err != nil {
		return nil, nil, err
	}
	clean = Dihedral(clean, mode)
	if fullDeg != nil {
		if deg, err = fullDeg.Crop(y, x, s.patch, s.patch); err != nil {
			return nil, nil, err
		}
		return Dihedral(deg, mode), clean, nil
	}
	return smp.deg.Apply(clean, s.draws), clean, nil
}

// Dihedral returns one of the 8 flips/rotations of a square or rectangular
// image: mode&3 quarter turns counter-clockwise, then a vertical flip if
// mode&4 is set. Mode 0 is the identity. (The authors draw modes 1..7 only,
// never the identity; here all 8 are equally likely.)
func Dihedral(im *Image, mode int) *Image {
	out := im.Clone()
	for r := 0; r < mode&3; r++ {
		out = rot90(out)
	}
	if mode&4 != 0 {
		out = flipV(out)
	}
	return out
}

// rot90 turns the image a quarter counter-clockwise, like np.rot90 on HWC.
func rot90(im *Image) *Image {
	h, w := im.H, im.W
	out := NewImage(im.Name, w, h)
	for c := 0; c < 3; c++ {
		src, dst := im.Pix[c*h*w:(c+1)*h*w], out.Pix[c*h*w:(c+1)*h*w]
		for y := 0; y < w; y++ {
			for x := 0; x < h; x++ {
				dst[y*h+x] = src[x*w+(w-1-y)]
			}
		}
	}
	return out
}

// flipV flips rows (np.flipud).
func flipV(im *Image) *Image {
	h, w := im.H, im.W
	out := NewImage(im.Name, h, w)
	for c := 0; c < 3; c++ {
		for y := 0; y < h; y++ {
			copy(out.Pix[c*h*w+y*w:c*h*w+y*w+w], im.Pix[c*h*w+(h-1-y)*w:c*h*w+(h-1-y)*w+w])
		}
	}
	return out
}
