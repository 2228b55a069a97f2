package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateGolden = flag.Bool("update-presets", false, "rewrite testdata/presets.sha256 from the current presets")

// presetDigest hashes the float32 bits of d applied to every embedded test
// photo with the generators EmbeddedEval uses.
func presetDigest(d Degradation, seed uint64) string {
	h := sha256.New()
	for i, im := range EmbeddedTest() {
		out := d.Apply(im, rand.New(rand.NewPCG(seed, uint64(i))))
		buf := make([]byte, 4*len(out.Pix))
		for j, v := range out.Pix {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestPresetsUnchanged guards the fixed presets (which trained models and
// published figures depend on) against any change of bytes: the digests in
// testdata/presets.sha256 were written by the presets before they were
// rebuilt on the parameterised forms of degrade_params.go.
func TestPresetsUnchanged(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("digests written on amd64; other architectures may fuse multiply-adds")
	}
	path := filepath.Join("testdata", "presets.sha256")
	var lines []string
	for _, d := range Degradations() {
		for _, seed := range []uint64{1, 7} {
			lines = append(lines, fmt.Sprintf("%s %d %s", d, seed, presetDigest(d, seed)))
		}
	}
	got := strings.Join(lines, "\n") + "\n"
	if *updateGolden {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got)
}
