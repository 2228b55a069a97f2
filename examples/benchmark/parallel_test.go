package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScalingJSON(t *testing.T) {
	s := makeScaling(2, 1, 4, dpResult{StepS: 0.5, CommShare: 0.25})
	require.InDelta(t, 2.0, s.StepsPerS, 1e-12)
	require.InDelta(t, 16.0, s.PatchesPerS, 1e-12) // 2 ranks x 4 patches per 0.5 s
	buf, err := json.Marshal(Row{Config: "tiny", DataParallel: []Scaling{s}})
	require.NoError(t, err)
	var got struct {
		DataParallel []map[string]any `json:"data_parallel"`
	}
	require.NoError(t, json.Unmarshal(buf, &got))
	for _, k := range []string{"ranks", "step_s", "steps_per_s", "patches_per_s", "comm_share", "gomaxprocs"} {
		require.Contains(t, got.DataParallel[0], k)
	}
	buf, err = json.Marshal(Row{Config: "tiny"})
	require.NoError(t, err)
	require.NotContains(t, string(buf), "data_parallel", "absent without -ranks")
}
