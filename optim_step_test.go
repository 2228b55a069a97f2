package baryir

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// hostVG is a parameter and its gradient as gorgonia.ValueGrad.
type hostVG struct{ v, g *tensor.Dense }

func (h hostVG) Value() G.Value         { return h.v }
func (h hostVG) Grad() (G.Value, error) { return h.g, nil }

// Step updates parameters larger than one chunk, split over several cores,
// exactly as the textbook per-element RMSProp and Adam updates (in float64,
// rounded to float32 after each step), and zeroes their gradients.
func TestOptimizerStepChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	const lr = 1e-3
	for _, c := range []struct {
		name string
		o    interface {
			Step([]G.ValueGrad) error
		}
		adam bool
	}{{"RMSProp", OptimizerRMSProp.newOptimizer(lr), false}, {"Adam", OptimizerAdam.newOptimizer(lr), true}} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 10))
			sizes := []int{3, 2*eachChunk + 5, eachChunk}
			vgs := make([]G.ValueGrad, len(sizes))
			want, m, v := make([][]float64, len(sizes)), make([][]float64, len(sizes)), make([][]float64, len(sizes))
			grads := make([][]float32, len(sizes))
			for i, n := range sizes {
				p, g := make([]float32, n), make([]float32, n)
				want[i], m[i], v[i], grads[i] = make([]float64, n), make([]float64, n), make([]float64, n), make([]float32, n)
				for j := range p {
					p[j], grads[i][j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
					want[i][j] = float64(p[j])
				}
				vgs[i] = hostVG{tensor.New(tensor.WithShape(n), tensor.WithBacking(p)), tensor.New(tensor.WithShape(n), tensor.WithBacking(g))}
			}
			spec := c.o.(interface{ spec() optimSpec }).spec()
			for step := 1; step <= 2; step++ {
				for i := range sizes {
					copy(vgs[i].(hostVG).g.Data().([]float32), grads[i])
				}
				require.NoError(t, c.o.Step(vgs))
				c1, c2 := 1-math.Pow(spec.a, float64(step)), 1-math.Pow(spec.b, float64(step))
				for i := range sizes {
					p := vgs[i].(hostVG).v.Data().([]float32)
					for j, g32 := range grads[i] {
						g := float64(g32)
						if c.adam {
							m[i][j] = spec.a*m[i][j] + (1-spec.a)*g
							v[i][j] = spec.b*v[i][j] + (1-spec.b)*g*g
							want[i][j] -= spec.lr * (m[i][j] / c1) / (math.Sqrt(v[i][j]/c2) + spec.eps)
						} else {
							v[i][j] = spec.a*v[i][j] + (1-spec.a)*g*g
							want[i][j] -= spec.lr * g / (math.Sqrt(v[i][j]) + spec.eps)
						}
						want[i][j] = float64(float32(want[i][j]))
						require.Equal(t, float32(want[i][j]), p[j], "step %d parameter %d element %d", step, i, j)
					}
					for j, g := range vgs[i].(hostVG).g.Data().([]float32) {
						require.Zero(t, g, "gradient %d element %d not zeroed", i, j)
					}
				}
			}
		})
	}
}

// Optimiser names round-trip through String and ParseOptimizer; a
// TrainConfig's JSON (a checkpoint's recorded setup) reads back the kind.
func TestOptimizerKindNames(t *testing.T) {
	for _, tt := range []struct {
		k    OptimizerKind
		name string
	}{{OptimizerRMSProp, "rmsprop"}, {OptimizerAdam, "adam"}} {
		require.Equal(t, tt.name, tt.k.String())
		k, err := ParseOptimizer(" " + strings.ToUpper(tt.name) + " ")
		require.NoError(t, err)
		require.Equal(t, tt.k, k)

		cfg := PaperTraining(Tiny())
		cfg.Optimizer = tt.k
		raw, err := json.Marshal(cfg)
		require.NoError(t, err)
		require.NoError(t, checkResume(map[string]string{metaTrainConfig: string(raw)}, cfg))
		// Checkpoints that recorded the names resume too.
		named := strings.Replace(string(raw), fmt.Sprintf(`"Optimizer":%d`, tt.k), `"Optimizer":"`+tt.name+`"`, 1)
		require.NotEqual(t, string(raw), named)
		require.NoError(t, checkResume(map[string]string{metaTrainConfig: named}, cfg))
	}
	k, err := ParseOptimizer("")
	require.NoError(t, err)
	require.Equal(t, OptimizerRMSProp, k, "the zero value and the empty name are the paper's RMSProp")
	_, err = ParseOptimizer("sgd")
	require.ErrorContains(t, err, `unknown optimizer "sgd"`)
	require.Equal(t, "OptimizerKind(9)", OptimizerKind(9).String())
	require.IsType(t, &adam{}, OptimizerAdam.newOptimizer(1e-3))
	require.IsType(t, &rmsProp{}, OptimizerRMSProp.newOptimizer(1e-3))
	require.ErrorContains(t, TrainConfig{Net: Tiny(), Batch: 1, Patch: 16, LR: 1e-3, ObjectiveConfig: ObjectiveConfig{Tau: 1}, Optimizer: 9}.validate(), "unknown optimizer 9")
}

// BenchmarkOptimizerStep times RMSProp's Step on 8 million float32
// parameters (a third of the Paper preset's) in chunks on all cores.
func BenchmarkOptimizerStep(b *testing.B) {
	const n = 8 << 20
	p, g := make([]float32, n), make([]float32, n)
	vgs := []G.ValueGrad{hostVG{tensor.New(tensor.WithShape(n), tensor.WithBacking(p)), tensor.New(tensor.WithShape(n), tensor.WithBacking(g))}}
	o := OptimizerRMSProp.newOptimizer(1e-3)
	b.SetBytes(4 * n)
	for range b.N {
		if err := o.Step(vgs); err != nil {
			b.Fatal(err)
		}
	}
}

// A setup recorded with the enums' names (a map's "unet", "bf16") reads as
// the values they name.
func TestResumeReadsNamedEnums(t *testing.T) {
	net := Tiny()
	net.Map = MapUNet
	cfg := PaperTraining(net)
	cfg.Precision, cfg.Device = PrecisionBF16, DeviceGPU
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	named := strings.NewReplacer(fmt.Sprintf(`"Map":%d`, MapUNet), `"Map":"unet"`,
		fmt.Sprintf(`"Precision":%d`, PrecisionBF16), `"Precision":"bf16"`).Replace(string(raw))
	require.Contains(t, named, `"Map":"unet"`)
	require.Contains(t, named, `"Precision":"bf16"`)
	require.NoError(t, checkResume(map[string]string{metaTrainConfig: named}, cfg))
	cfg.Precision = PrecisionTF32
	require.ErrorContains(t, checkResume(map[string]string{metaTrainConfig: named}, cfg), "Precision")
}

// Checkpoints that recorded the network's family as "Arch" resume, for a
// Config and for PromptIR's Net alike, and a Restormer's refuses BaryNet.
func TestResumeReadsArch(t *testing.T) {
	for _, net := range []Config{Tiny(), Tiny().Restormer()} {
		// PromptIR as NewTrainer records it, its prompts' defaults filled in.
		for _, arch := range []Architecture{net, PromptIR{Net: net}.withDefaults()} {
			cfg := PaperTraining(arch)
			raw, err := json.Marshal(cfg)
			require.NoError(t, err)
			old := strings.NewReplacer(fmt.Sprintf(`"Map":%d`, MapNone), `"Map":0`, `"Dim":`, `"Arch":"`+net.family()+`","Dim":`).Replace(string(raw))
			require.Contains(t, old, `"Arch":"`+net.family()+`"`, "%s", arch)
			require.NoError(t, checkResume(map[string]string{metaTrainConfig: old}, cfg), "%s", arch)
			if !net.hasMap() {
				cfg.Net = Tiny()
				require.Error(t, checkResume(map[string]string{metaTrainConfig: old}, cfg), "%s", arch)
			}
		}
	}
}

// Checkpoints that recorded the objective's switches under "Ablate" resume
// with the same switches, and are refused, naming the switch, without.
func TestResumeReadsAblate(t *testing.T) {
	cfg := PaperTraining(Tiny())
	cfg.NoIRC = true
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"Sigma":10000,`, "the objective's fields are recorded beside the others")
	require.NotContains(t, string(raw), "ObjectiveConfig")
	old := strings.Replace(string(raw), `"NoIRC":true,`, `"Ablate":{"NoIRC":true},`, 1)
	require.Contains(t, old, `"Ablate":{"NoIRC":true}`)
	require.NoError(t, checkResume(map[string]string{metaTrainConfig: old}, cfg))
	cfg.NoIRC = false
	require.ErrorContains(t, checkResume(map[string]string{metaTrainConfig: old}, cfg), "NoIRC: checkpoint true, this run false")
}
