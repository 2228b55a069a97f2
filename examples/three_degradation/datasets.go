package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/x/baryir/data"
)

// listsFlag collects -train-list: the authors' data_dir (holding their
// noisy/denoise.txt, rainy/rainTrain.txt, hazy/hazy_outside.txt), or
// source=list.txt; repeatable.
type listsFlag []string

func (l *listsFlag) String() string { return strings.Join(*l, ",") }

func (l *listsFlag) Set(v string) error {
	if v == "" {
		return fmt.Errorf("want the authors' data_dir or source=list.txt")
	}
	*l = append(*l, v)
	return nil
}

// resolve maps each source to its list file.
func (l listsFlag) resolve() (map[string]string, error) {
	out := map[string]string{}
	add := func(src, file string) error {
		if prev, ok := out[src]; ok && prev != file {
			return fmt.Errorf("-train-list: two lists for %s: %s and %s", src, prev, file)
		}
		out[src] = file
		return nil
	}
	for _, v := range l {
		if src, file, ok := strings.Cut(v, "="); ok {
			if err := add(src, file); err != nil {
				return nil, err
			}
			continue
		}
		lists, err := data.AuthorsLists(v)
		if err != nil {
			return nil, fmt.Errorf("-train-list: %w", err)
		}
		for src, file := range lists {
			if err := add(src, file); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// trainSources reads -train (through -train-list), or the embedded photos.
func trainSources(o options) ([]*data.Source, error) {
	degs := o.extra.degradations()
	if o.train != "" {
		lists, err := o.trainLists.resolve()
		if err != nil {
			return nil, err
		}
		sources, err := data.TrainSources(data.TrainLayout{Root: o.train, Lists: lists}, degs)
		if err != nil {
			return nil, fmt.Errorf("-train: %w", err)
		}
		return sources, nil
	}
	if len(o.trainLists) > 0 {
		return nil, fmt.Errorf("-train-list needs -train, the folder the lists' images are under")
	}
	sources, err := data.EmbeddedSources(degs)
	if err != nil {
		return nil, err
	}
	// The denoise source holds each photo three times (one per sigma); repeat
	// the others as often, and rain twice as often: thin streaks are what the Tiny
	// network learns last (with equal shares it left rain images no better).
	for _, s := range sources[1:] {
		s.Repeat = sources[0].Len() / s.Len()
	}
	sources[1].Repeat *= 2
	return sources, nil
}

// testSet is one task's evaluation images: a benchmark's EvalSet, or the
// held-out embedded photos.
type testSet struct {
	name string
	deg  data.Degradation
	from string        // the flags and folders it was read from
	set  *data.EvalSet // nil: the embedded photos
}

// describe is the set's line in the run's opening summary.
func (s testSet) describe(kind string) string {
	if s.set == nil {
		return fmt.Sprintf("%s %s: the embedded test photos", kind, s.name)
	}
	return fmt.Sprintf("%s %s: %d images from %s", kind, s.name, s.set.Len(), s.from)
}

// get reads the set's images, at most -eval-images of them.
func (s testSet) get(o options) (degraded, clean []*data.Image, err error) {
	if s.set == nil {
		degraded, clean = data.EmbeddedEval(s.deg, o.seed)
	} else if degraded, clean, err = o.loadAll(s.set); err != nil {
		return nil, nil, fmt.Errorf("%s test set (%s): %w", s.name, s.from, err)
	}
	if o.evalImages > 0 && len(degraded) > o.evalImages {
		degraded, clean = degraded[:o.evalImages], clean[:o.evalImages]
	}
	return degraded, clean, nil
}

// loadAll reads set's images within -max-pixels, at most -eval-images.
func (o options) loadAll(set *data.EvalSet) (degraded, clean []*data.Image, _ error) {
	set.Loader = data.Loader{MaxPixels: o.maxPixels}
	n := set.Len()
	if o.evalImages > 0 {
		n = min(n, o.evalImages)
	}
	for i := range n {
		d, c, err := set.Get(i)
		if err != nil {
			return nil, nil, err
		}
		degraded, clean = append(degraded, d), append(clean, c)
	}
	return degraded, clean, nil
}

// folderFlag is a flag naming a folder.
type folderFlag struct{ name, dir string }

func (f folderFlag) String() string { return f.name + " " + f.dir }

// check refuses a folder that is missing or not a folder, naming the flag.
func (f folderFlag) check() error {
	st, err := os.Stat(f.dir)
	switch {
	case err != nil:
		return fmt.Errorf("%s %s: no such folder", f.name, f.dir)
	case !st.IsDir():
		return fmt.Errorf("%s %s: not a folder", f.name, f.dir)
	}
	return nil
}

// pairedSet pairs degraded with clean (the same folder when clean.dir is
// empty) into a test set labelled d; errors name both flags.
func pairedSet(d data.Degradation, degraded, clean folderFlag) (*data.EvalSet, string, error) {
	from := degraded.String()
	if clean.dir == "" {
		clean.dir = degraded.dir
	} else {
		from += " and " + clean.String()
	}
	for _, f := range []folderFlag{degraded, clean} {
		if err := f.check(); err != nil {
			return nil, from, err
		}
	}
	pairs, err := data.Pairs(degraded.dir, clean.dir)
	if err != nil {
		return nil, from, fmt.Errorf("%s: %w", from, err)
	}
	set, err := data.NewPairEvalSet(pairs, d)
	return set, from, err
}

// checkTestFlags refuses test folder flags given without their partner, or
// for a task that is not trained.
func checkTestFlags(o options) error {
	e := o.extra
	switch {
	case o.hazyDir != "" && o.clearDir == "":
		return fmt.Errorf("-sots needs -sots-clear, the clear images (SOTS/outdoor/gt)")
	case o.clearDir != "" && o.hazyDir == "":
		return fmt.Errorf("-sots-clear needs -sots, the hazy images (SOTS/outdoor/hazy)")
	case o.rainCleanDir != "" && o.rainyDir == "":
		return fmt.Errorf("-rain100l-clean needs -rain100l, the rainy images")
	case e.goproGT != "" && e.gopro == "":
		return fmt.Errorf("-gopro-sharp needs -gopro, the blurred images")
	case e.goproGamma && (e.gopro == "" || e.goproGT != ""):
		return fmt.Errorf("-gopro-gamma needs -gopro as GoPro's test root (GOPRO_Large/test), without -gopro-sharp")
	case (e.lol == "") != (e.lolGT == ""):
		return fmt.Errorf("-lol and -lol-high come together (LOLdataset/eval15/low and eval15/high)")
	case e.tasks != "five" && (e.gopro != "" || e.lol != ""):
		return fmt.Errorf("-gopro and -lol test blur and low light: they need -tasks five")
	}
	return nil
}

// testSets pairs every test folder the flags name, before training, so
// that a missing or wrong folder stops the run at once; tasks without a
// folder are evaluated on the held-out embedded photos.
func testSets(o options) ([]testSet, error) {
	if err := checkTestFlags(o); err != nil {
		return nil, err
	}
	e := o.extra
	var sets []testSet
	for _, d := range e.degradations() {
		s := testSet{name: d.String(), deg: d}
		var err error
		switch {
		case d.NoiseSigma() > 0 && o.bsd68 != "":
			f := folderFlag{"-bsd68", o.bsd68}
			s.from = f.String()
			var files []string
			if err = f.check(); err == nil {
				if files, err = data.CleanImages(o.bsd68); err != nil {
					err = fmt.Errorf("%s: %w", f, err)
				}
			}
			if err == nil {
				s.set, err = data.NewSyntheticEvalSet(files, d, o.seed)
			}
		case d == data.Rain && o.rainyDir != "":
			s.set, s.from, err = pairedSet(d, folderFlag{"-rain100l", o.rainyDir}, folderFlag{"-rain100l-clean", o.rainCleanDir})
		case d == data.Haze && o.hazyDir != "":
			s.set, s.from, err = pairedSet(d, folderFlag{"-sots", o.hazyDir}, folderFlag{"-sots-clear", o.clearDir})
		case d == data.Blur && e.gopro != "" && e.goproGT != "":
			s.set, s.from, err = pairedSet(d, folderFlag{"-gopro", e.gopro}, folderFlag{"-gopro-sharp", e.goproGT})
		case d == data.Blur && e.gopro != "":
			f := folderFlag{"-gopro", e.gopro}
			s.from = f.String()
			var pairs []data.Pair
			if err = f.check(); err == nil {
				if pairs, err = data.GoProPairs(e.gopro, e.goproGamma); err != nil {
					err = fmt.Errorf("%s: %w", f, err)
				}
			}
			if err == nil {
				s.set, err = data.NewPairEvalSet(pairs, d)
			}
		case d == data.LowLight && e.lol != "":
			s.set, s.from, err = pairedSet(d, folderFlag{"-lol", e.lol}, folderFlag{"-lol-high", e.lolGT})
		}
		if err != nil {
			return nil, err
		}
		sets = append(sets, s)
	}
	return sets, nil
}
