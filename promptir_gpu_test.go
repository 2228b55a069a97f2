//go:build baryirgpu

package baryir

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir/data"
)

// PromptIR and BaryIR on PromptIR on the GPU give the CPU's restorations
// (the prompt blocks' mean, softmax, mixture and bilinear resize run as
// GPU kernels), and BaryIR on PromptIR trains there as on the CPU.
func TestGPUPromptIRMatchesCPU(t *testing.T) {
	fix, err := readFixture("testdata/promptir.safetensors")
	require.NoError(t, err)
	deg, _ := data.EmbeddedEval(data.ThreeDegradations()[1], 1)
	im, err := deg[0].Crop(0, 0, 30, 44)
	require.NoError(t, err)
	for name, arch := range map[string]PromptIR{"promptir": fixturePromptIR(true), "baryir_promptir": fixturePromptIR(false)} {
		sd := withPrefix(fix, name+"/weights/")
		want, err := restorerFor(t, arch, sd, RestorerOptions{}).Restore(im)
		require.NoError(t, err)
		got, err := restorerFor(t, arch, sd, RestorerOptions{Device: DeviceGPU}).Restore(im)
		require.NoError(t, err)
		r := relErr32(got.Pix, want.Pix)
		gpuReport(t, "restorer %-22s gpu vs cpu rel.err %.2e", name, r)
		require.LessOrEqual(t, r, gpuTol, name)
	}

	bary := func(c *TrainConfig) { c.Net = fixturePromptIR(false) }
	cpu := gpuTestTraining(t, DeviceCPU, bary)
	dev := gpuTestTraining(t, DeviceGPU, bary)
	for i := range 3 {
		want, err := cpu.Step()
		require.NoError(t, err)
		got, err := dev.Step()
		require.NoError(t, err)
		r, which := closeLosses(got, want)
		gpuReport(t, "trainer baryir_promptir step %d: generator %.6g vs cpu %.6g; worst loss rel.err %.2e (%s)",
			i+1, got.Generator, want.Generator, r, which)
		require.LessOrEqual(t, r, gpuTol, "step %d %s", i+1, which)
	}
}
