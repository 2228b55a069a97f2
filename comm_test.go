package baryir

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// loopback is an in-process job of size ranks (one goroutine each): the
// collectives rendezvous, and the last rank to arrive reduces in rank order.
type loopback struct {
	mu      sync.Mutex
	cond    *sync.Cond
	size    int
	bufs    [][]float32
	arrived int
	gen     int
	err     error
	calls   int // collectives completed
}

type loopRank struct {
	job  *loopback
	rank int
}

func newLoopback(size int) []Comm {
	job := &loopback{size: size, bufs: make([][]float32, size)}
	job.cond = sync.NewCond(&job.mu)
	out := make([]Comm, size)
	for r := range out {
		out[r] = loopRank{job, r}
	}
	return out
}

// collective runs combine once all ranks have deposited their buffers.
func (c loopRank) collective(buf []float32, combine func(bufs [][]float32)) error {
	j := c.job
	j.mu.Lock()
	defer j.mu.Unlock()
	gen := j.gen
	j.bufs[c.rank] = buf
	j.arrived++
	if j.arrived == j.size {
		j.err = nil
		for r, b := range j.bufs {
			if len(b) != len(buf) {
				j.err = fmt.Errorf("loopback: rank %d has %d elements, rank %d has %d", r, len(b), c.rank, len(buf))
			}
		}
		if j.err == nil {
			combine(j.bufs)
		}
		j.arrived, j.calls = 0, j.calls+1
		j.gen++
		j.cond.Broadcast()
	} else {
		for gen == j.gen {
			j.cond.Wait()
		}
	}
	return j.err
}

func (c loopRank) Rank() int    { return c.rank }
func (c loopRank) Size() int    { return c.job.size }
func (c loopRank) Close() error { return nil }

func (c loopRank) AllReduce(buf []float32) error {
	return c.collective(buf, func(bufs [][]float32) {
		sum := make([]float32, len(buf))
		for _, b := range bufs {
			for i, v := range b {
				sum[i] += v
			}
		}
		for _, b := range bufs {
			for i := range b {
				b[i] = sum[i]
			}
		}
	})
}

func (c loopRank) Broadcast(buf []float32, root int) error {
	if err := checkRoot(c, root); err != nil {
		return err
	}
	return c.collective(buf, func(bufs [][]float32) {
		for _, b := range bufs {
			copy(b, bufs[root])
		}
	})
}

// runRanks calls f on every rank of comms at once and returns their errors.
func runRanks(comms []Comm, f func(c Comm) error) []error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() { defer wg.Done(); errs[r] = f(c) }()
	}
	wg.Wait()
	return errs
}

// rankSlices is rank r's gradients: slices of the given lengths whose
// element i of slice s is (r+1)*(s+1) + i/8.
func rankSlices(r int, lens []int) [][]float32 {
	out := make([][]float32, len(lens))
	for s, n := range lens {
		out[s] = make([]float32, n)
		for i := range out[s] {
			out[s][i] = float32((r+1)*(s+1)) + float32(i)/8
		}
	}
	return out
}

func TestLocalComm(t *testing.T) {
	var c Comm = localComm{}
	buf := []float32{1, 2.5}
	if err := c.AllReduce(buf); err != nil || buf[0] != 1 || buf[1] != 2.5 {
		t.Fatalf("AllReduce: %v %v", buf, err)
	}
	if err := c.Broadcast(buf, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Broadcast(buf, 1); err == nil || !strings.Contains(err.Error(), "root 1") {
		t.Fatalf("broadcast from rank 1 of 1: %v", err)
	}
	if c.Rank() != 0 || c.Size() != 1 || c.Close() != nil {
		t.Fatal("localComm is not rank 0 of 1")
	}
}

func TestBuckets(t *testing.T) {
	// With 8-element buckets: {3}, {10} alone in place, {1, 7, 0}, {2}.
	lens := []int{3, 10, 1, 7, 0, 2}
	const wantBuckets = 4
	for _, tc := range []struct {
		size int
		mean bool
	}{{2, false}, {3, true}, {1, true}} {
		t.Run(fmt.Sprintf("%d-mean=%v", tc.size, tc.mean), func(t *testing.T) {
			comms := newLoopback(tc.size)
			grads := make([][][]float32, tc.size)
			errs := runRanks(comms, func(c Comm) error {
				b, err := newBuckets(c, 8*4)
				if err != nil {
					return err
				}
				for range 2 { // the second call reuses the checked layout
					grads[c.Rank()] = rankSlices(c.Rank(), lens)
					if err := b.AllReduce(grads[c.Rank()], tc.mean); err != nil {
						return err
					}
				}
				return nil
			})
			for r, err := range errs {
				if err != nil {
					t.Fatalf("rank %d: %v", r, err)
				}
			}
			if tc.size > 1 {
				// 4 collectives check the layout once, then 4 buckets per call.
				if got := comms[0].(loopRank).job.calls; got != 4+2*wantBuckets {
					t.Errorf("%d collectives, want %d", got, 4+2*wantBuckets)
				}
			}
			for s, n := range lens {
				for i := range n {
					var want float32
					for r := range tc.size {
						want += rankSlices(r, lens)[s][i]
					}
					if tc.mean {
						want /= float32(tc.size)
					}
					for r := range tc.size {
						if got := grads[r][s][i]; got != want {
							t.Fatalf("rank %d slice %d [%d] = %g, want %g", r, s, i, got, want)
						}
					}
				}
			}
		})
	}
}

func TestBucketsLayoutMismatch(t *testing.T) {
	for name, lens := range map[string][][]int{
		"count":  {{3, 4}, {3, 4, 5}},
		"length": {{3, 4}, {3, 5}},
	} {
		t.Run(name, func(t *testing.T) {
			errs := runRanks(newLoopback(2), func(c Comm) error {
				b, err := newBuckets(c, 0)
				if err != nil {
					return err
				}
				return b.AllReduce(rankSlices(c.Rank(), lens[c.Rank()]), false)
			})
			for r, err := range errs {
				if err == nil || !strings.Contains(err.Error(), "differ from rank 0") {
					t.Errorf("rank %d: %v, want a layout error", r, err)
				}
			}
		})
	}
}

func TestNewBucketsErrors(t *testing.T) {
	if _, err := newBuckets(nil, 0); err == nil {
		t.Error("nil communicator accepted")
	}
	if _, err := newBuckets(localComm{}, 3); err == nil {
		t.Error("3-byte bucket accepted")
	}
}
