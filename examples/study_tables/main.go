// Command study_tables turns the outputs of scripts/study.sh into the
// markdown tables of the paper's ablations: Tab. IX (what the decoder is
// fed; which losses train the map), Tab. X (barycenter weights), Tab. XI
// (map architectures, with the Restormer baseline), Figs. 10 and 12 (batch
// size and β, the paper's λ) as tables, Fig. 9's feature ablation, and the
// cost table (Tab. XII/XIII) when the folder holds cost.json.
//
//	go run ./examples/study_tables [-out tables.md] DIR
//
// DIR holds one JSON file per run and seed, each the results.json of an
// examples/three_degradation run (its "setup" says what the run trained).
// Runs whose setups differ only in the seed are one row, their figures the
// mean over the seeds (the row names the seeds). Each table varies one
// setting and holds the others at the reference: the paper's choices for
// the losses (all), the decoder (b+r), the weights (proportional) and the
// map (transformer); the batch size and β most of the runs share; and the
// same preset, tasks, patch and number of training patches (steps x batch,
// so the batch sweep trains on as many patches in each row). Runs that fit
// no table are listed on stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/x/baryir/data"
)

// run is the part of a three_degradation results.json the tables read.
type run struct {
	file    string
	Network string `json:"network"`
	Steps   int    `json:"steps"`
	Setup   setup  `json:"setup"`
	Tasks   []struct {
		Task         string      `json:"task"`
		RestoredPSNR data.Metric `json:"restored_psnr"`
		RestoredSSIM data.Metric `json:"restored_ssim"`
	} `json:"tasks"`
	OOD []struct {
		RestoredPSNR data.Metric `json:"restored_psnr"`
	} `json:"ood"`
	Features []featureRow `json:"feature_ablation"`
}

// setup is three_degradation's "setup".
type setup struct {
	Preset    string  `json:"preset"`
	Tasks     string  `json:"tasks"`
	Seed      uint64  `json:"seed"`
	Batch     int     `json:"batch"`
	Patch     int     `json:"patch"`
	Beta      float64 `json:"beta"`
	Losses    string  `json:"losses"`
	Embedding string  `json:"embedding"`
	Weights   string  `json:"weights"`
	Map       string  `json:"map"`
}

type featureRow struct {
	Task    string      `json:"task"`
	R1PSNR  data.Metric `json:"r1_psnr"`
	R2PSNR  data.Metric `json:"r2_psnr"`
	R3PSNR  data.Metric `json:"r3_psnr"`
	DiffWB  float64     `json:"diff_wb"`
	DiffRes float64     `json:"diff_res"`
}

// key is what a row is: a run's setup without its seed, and its network
// and training patches.
type key struct {
	network string
	patches int // steps x batch
	setup   setup
}

func keyOf(r run) key {
	s := r.Setup
	s.Seed = 0
	return key{network: r.Network, patches: r.Steps * s.Batch, setup: s}
}

// group is one row: the runs of one setup, one per seed.
type group struct {
	key  key
	runs []run
}

func main() {
	out := flag.String("out", "", "write the tables to this file instead of stdout")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: study_tables [-out tables.md] DIR")
		os.Exit(2)
	}
	var b strings.Builder
	if err := tables(flag.Arg(0), &b, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "study_tables:", err)
		os.Exit(1)
	}
	var err error
	if *out != "" {
		err = data.WriteFileAtomic(*out, []byte(b.String()))
	} else {
		_, err = io.WriteString(os.Stdout, b.String())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "study_tables:", err)
		os.Exit(1)
	}
}

// read reads every run in dir (the JSON files with a setup).
func read(dir string) ([]run, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var runs []run
	for _, f := range files {
		if filepath.Base(f) == "cost.json" {
			continue
		}
		js, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r run
		if err := json.Unmarshal(js, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if r.Setup.Preset == "" || len(r.Tasks) == 0 {
			return nil, fmt.Errorf("%s: not a three_degradation results.json with a setup and tasks", f)
		}
		r.file = filepath.Base(f)
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("%s: no runs (*.json)", dir)
	}
	return runs, nil
}

// tables writes every table the runs in dir make.
func tables(dir string, w io.Writer, log io.Writer) error {
	runs, err := read(dir)
	if err != nil {
		return err
	}
	var groups []*group
	for _, r := range runs {
		k := keyOf(r)
		i := slices.IndexFunc(groups, func(g *group) bool { return g.key == k })
		if i < 0 {
			groups = append(groups, &group{key: k})
			i = len(groups) - 1
		}
		groups[i].runs = append(groups[i].runs, r)
	}
	for _, g := range groups {
		sort.Slice(g.runs, func(i, j int) bool { return g.runs[i].Setup.Seed < g.runs[j].Setup.Seed })
	}
	ref := reference(groups)
	used := map[*group]bool{}
	pick := func(vary func(*key) string, values []string) []*group {
		var rows []*group
		for _, v := range values {
			for _, g := range groups {
				k := g.key
				if vary(&k) == v && k == ref {
					rows = append(rows, g)
					used[g] = true
				}
			}
		}
		return rows
	}
	bary := func(k *key) { k.network, k.setup.Map = "barynet", "transformer" }
	sections := []struct {
		title, column string
		label         func(*group) string
		rows          []*group
	}{
		{"Tab. IX, embeddings: what the decoder is fed", "decoder fed", func(g *group) string { return g.key.setup.Embedding },
			pick(func(k *key) string { v := k.setup.Embedding; k.setup.Embedding = "b+r"; return v }, []string{"s", "b", "s+r", "b+r"})},
		{"Tab. IX, losses: the terms that train the map besides L1 (none: the map trained by L1 alone)", "losses", func(g *group) string { return g.key.setup.Losses },
			pick(func(k *key) string { v := k.setup.Losses; k.setup.Losses = "all"; return v }, []string{"none", "irc+bro", "mwb", "mwb+irc", "mwb+bro", "all"})},
		{"Tab. X: barycenter weights", "weights", func(g *group) string { return g.key.setup.Weights },
			pick(func(k *key) string { v := k.setup.Weights; k.setup.Weights = "proportional"; return v }, []string{"uniform", "proportional"})},
		{"Tab. XI: barycenter map architecture (w/o: the plain Restormer)", "map", func(g *group) string {
			if g.key.network != "barynet" {
				return "w/o (" + g.key.network + ")"
			}
			return g.key.setup.Map
		}, pick(func(k *key) string {
			if k.network != "barynet" {
				v := k.network
				k.setup.Losses, k.setup.Embedding, k.setup.Weights = "all", "b+r", "proportional"
				bary(k)
				return v
			}
			v := k.setup.Map
			bary(k)
			return v
		}, []string{"restormer", "mlp", "unet", "vit", "transformer"})},
		{"Fig. 10: batch size (as many training patches in each row)", "batch", func(g *group) string { return fmt.Sprint(g.key.setup.Batch) },
			pick(func(k *key) string { v := k.setup.Batch; k.setup.Batch = ref.setup.Batch; return fmt.Sprint(v) }, values(groups, func(k key) int { return k.setup.Batch }))},
		{"Fig. 12: β, the weight of IRC + BRO (the paper's λ)", "β", func(g *group) string { return fmt.Sprint(g.key.setup.Beta) },
			pick(func(k *key) string { v := k.setup.Beta; k.setup.Beta = ref.setup.Beta; return fmt.Sprint(v) }, values(groups, func(k key) float64 { return k.setup.Beta }))},
	}
	fmt.Fprintf(w, "Preset %s, %s degradations, %dx%d patches, %d training patches per run (steps x batch); reference: batch %d, β %g. "+
		"PSNR (dB) / SSIM of the restored test photos per task, their average, and the mean PSNR over the unseen conditions (-ood). "+
		"Figures are means over the seeds listed, with the standard deviation over the seeds (sd) where there are several.\n", ref.setup.Preset, ref.setup.Tasks, ref.setup.Patch, ref.setup.Patch, ref.patches, ref.setup.Batch, ref.setup.Beta)
	for _, s := range sections {
		if len(s.rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s\n\n", s.title)
		writeTable(w, s.column, s.label, s.rows)
	}
	for _, g := range groups {
		if g.key == ref {
			writeFeatures(w, g)
		}
	}
	if err := writeCost(w, dir); err != nil {
		return err
	}
	for _, g := range groups {
		if !used[g] {
			for _, r := range g.runs {
				fmt.Fprintf(log, "%s: fits no table (its setup differs from the reference in more than one setting)\n", r.file)
			}
		}
	}
	return nil
}

// reference is the paper's choices for the losses, decoder, weights and
// map, with the batch, β, preset, tasks, patch and training patches most
// runs share.
func reference(groups []*group) key {
	mode := func(get func(key) string) string {
		count := map[string]int{}
		best := ""
		for _, g := range groups {
			v := get(g.key)
			count[v] += len(g.runs)
			if count[v] > count[best] || count[v] == count[best] && v < best {
				best = v
			}
		}
		return best
	}
	var k key
	fmt.Sscan(mode(func(k key) string { return fmt.Sprint(k.setup.Batch) }), &k.setup.Batch)
	fmt.Sscan(mode(func(k key) string { return fmt.Sprint(k.setup.Beta) }), &k.setup.Beta)
	fmt.Sscan(mode(func(k key) string { return fmt.Sprint(k.setup.Patch) }), &k.setup.Patch)
	fmt.Sscan(mode(func(k key) string { return fmt.Sprint(k.patches) }), &k.patches)
	k.setup.Preset = mode(func(k key) string { return k.setup.Preset })
	k.setup.Tasks = mode(func(k key) string { return k.setup.Tasks })
	k.network = "barynet"
	k.setup.Losses, k.setup.Embedding, k.setup.Weights, k.setup.Map = "all", "b+r", "proportional", "transformer"
	return k
}

// values lists the distinct values of get over the groups, ascending.
func values[T int | float64](groups []*group, get func(key) T) []string {
	var v []T
	for _, g := range groups {
		v = append(v, get(g.key))
	}
	slices.Sort(v)
	var s []string
	for _, x := range slices.Compact(v) {
		s = append(s, fmt.Sprint(x))
	}
	return s
}

// writeTable writes one table: a row per group, a column per task, the
// average over tasks, the unseen mean, seeds and steps.
func writeTable(w io.Writer, column string, label func(*group) string, rows []*group) {
	tasks := rows[0].runs[0].Tasks
	fmt.Fprintf(w, "| %s |", column)
	for _, t := range tasks {
		fmt.Fprintf(w, " %s |", t.Task)
	}
	fmt.Fprintln(w, " average | unseen | seeds | steps |")
	fmt.Fprint(w, "|---|")
	fmt.Fprint(w, strings.Repeat("---|", len(tasks)+4))
	fmt.Fprintln(w)
	for _, g := range rows {
		fmt.Fprintf(w, "| %s |", label(g))
		var avgP, avgS []float64 // per seed
		for i, t := range tasks {
			var p, s float64
			for _, r := range g.runs {
				if i >= len(r.Tasks) || r.Tasks[i].Task != t.Task {
					p, s = math.NaN(), math.NaN() // runs of other tasks: no figure
					break
				}
				p += float64(r.Tasks[i].RestoredPSNR) / float64(len(g.runs))
				s += float64(r.Tasks[i].RestoredSSIM) / float64(len(g.runs))
			}
			fmt.Fprintf(w, " %.2f/%.3f |", p, s)
		}
		for _, r := range g.runs {
			var p, s float64
			for _, t := range r.Tasks {
				p += float64(t.RestoredPSNR) / float64(len(r.Tasks))
				s += float64(t.RestoredSSIM) / float64(len(r.Tasks))
			}
			avgP, avgS = append(avgP, p), append(avgS, s)
		}
		fmt.Fprintf(w, " %.2f/%.3f%s |", mean(avgP), mean(avgS), sd(avgP))
		var unseen []float64
		for _, r := range g.runs {
			if len(r.OOD) == 0 {
				continue
			}
			var p float64
			for _, o := range r.OOD {
				p += float64(o.RestoredPSNR) / float64(len(r.OOD))
			}
			unseen = append(unseen, p)
		}
		if len(unseen) == len(g.runs) {
			fmt.Fprintf(w, " %.2f%s |", mean(unseen), sd(unseen))
		} else {
			fmt.Fprint(w, " – |")
		}
		var seeds []string
		for _, r := range g.runs {
			seeds = append(seeds, fmt.Sprint(r.Setup.Seed))
		}
		fmt.Fprintf(w, " %s | %d |\n", strings.Join(seeds, ", "), g.runs[0].Steps)
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x / float64(len(v))
	}
	return s
}

// sd is " (sd X)", the sample standard deviation of v over the seeds, or
// "" for one seed.
func sd(v []float64) string {
	if len(v) < 2 {
		return ""
	}
	m := mean(v)
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return fmt.Sprintf(" (sd %.2f)", math.Sqrt(ss/float64(len(v)-1)))
}

// writeFeatures writes Fig. 9's figures of the reference runs that made
// them (-feature-ablation), one table per seed.
func writeFeatures(w io.Writer, g *group) {
	for _, r := range g.runs {
		if len(r.Features) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### Fig. 9: test-time feature ablation (seed %d, %d steps): R1 b zeroed, R2 r zeroed, R3 full\n\n", r.Setup.Seed, r.Steps)
		fmt.Fprintln(w, "| task | R1 (w/o WB) | R2 (w/o res.) | R3 (full) | mean abs R3 - R1 | mean abs R3 - R2 |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, f := range r.Features {
			fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.4f | %.4f |\n", f.Task, f.R1PSNR, f.R2PSNR, f.R3PSNR, f.DiffWB, f.DiffRes)
		}
	}
}

// writeCost writes dir/cost.md (examples/cost) under its heading, if there.
func writeCost(w io.Writer, dir string) error {
	md, err := os.ReadFile(filepath.Join(dir, "cost.md"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n### Tab. XII/XIII: cost (examples/cost)\n\n%s", md)
	return nil
}
