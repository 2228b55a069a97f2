package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/x/baryir"
)

func TestCostTable(t *testing.T) {
	out := t.TempDir()
	o := options{preset: "tiny", size: 32, patch: 32, sources: 3, reps: 1, asJSON: true, out: out}
	var stdout strings.Builder
	require.NoError(t, run(o, &stdout, io.Discard))
	var tab Table
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &tab))
	require.Len(t, tab.Rows, 4)
	rest, bary, prompt, baryPrompt := tab.Rows[0], tab.Rows[1], tab.Rows[2], tab.Rows[3]
	require.Equal(t, "Restormer", rest.Method)
	require.Equal(t, "BaryIR", bary.Method)
	require.Equal(t, "PromptIR", prompt.Method)
	require.Equal(t, "BaryIR (PromptIR)", baryPrompt.Method)
	require.Equal(t, prompt.InferParams, prompt.TrainParams, "PromptIR trains no potentials")
	require.Greater(t, baryPrompt.TrainParams, baryPrompt.InferParams)
	require.Greater(t, prompt.InferParams, rest.InferParams, "PromptIR is the Restormer and its prompts")
	require.Greater(t, baryPrompt.GFLOPs, prompt.GFLOPs)
	require.Equal(t, rest.InferParams, rest.TrainParams, "the Restormer trains no potentials")
	require.Greater(t, bary.TrainParams, bary.InferParams, "BaryIR trains its potentials too")
	require.Greater(t, bary.GFLOPs, rest.GFLOPs)
	require.Equal(t, 2*rest.GMACs, rest.GFLOPs)
	require.Positive(t, rest.GFLOPs)
	require.Positive(t, bary.Seconds)

	// The potentials grow with the training patch and the sources.
	o.patch, o.sources, o.asJSON, o.out = 64, 5, false, ""
	stdout.Reset()
	n, err := potentialParams(baryir.Tiny(), o)
	require.NoError(t, err)
	require.Greater(t, n, bary.TrainParams-bary.InferParams)

	md, err := os.ReadFile(filepath.Join(out, "cost.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "| Method | #Param (training) | #Param (inference) | MACs | FLOPs | Time |")
	require.Contains(t, string(md), "| BaryIR | ")
	_, err = os.Stat(filepath.Join(out, "cost.json"))
	require.NoError(t, err)

	for _, c := range []struct {
		edit func(*options)
		want string
	}{
		{func(o *options) { o.preset = "huge" }, "-preset"},
		{func(o *options) { o.size = 30 }, "-size 30"},
		{func(o *options) { o.patch = 8 }, "-patch 8"},
		{func(o *options) { o.sources = 0 }, "-sources 0"},
		{func(o *options) { o.reps = 0 }, "-reps 0"},
	} {
		bad := options{preset: "tiny", size: 32, patch: 32, sources: 3, reps: 1}
		c.edit(&bad)
		require.ErrorContains(t, run(bad, io.Discard, io.Discard), c.want)
	}
}
