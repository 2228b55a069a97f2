package layers

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// addInto's chunks, run on several cores, cover every element once:
// sizes below one chunk, exactly one, and several with a partial last.
func TestAddIntoChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, n := range []int{1, 7, addChunk, 3*addChunk + 5} {
		x, y, o := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], y[i], o[i] = float32(i), float32(2*i+1), -1
		}
		addInto(o, x, y)
		for i, v := range o {
			require.Equal(t, float32(3*i+1), v, "n %d element %d", n, i)
		}
	}
}
