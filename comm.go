package baryir

import "os"

// Comm is a communicator between the processes (ranks) of one data-parallel
// job: rank 0 to Size()-1, each usually training on its own shard of the
// batches. Collectives must be called by every rank in the same order with
// buffers of the same length; the result is the same, bit for bit, on every
// rank. JoinJob returns the one of the job this process belongs to.
type Comm interface {
	Rank() int
	Size() int
	// AllReduce replaces buf, on every rank, with the element-wise sum of
	// all ranks' buf (the library divides by Size for a mean).
	AllReduce(buf []float32) error
	// Broadcast copies root's buf into every other rank's buf.
	Broadcast(buf []float32, root int) error
	// Close releases the communicator; it is collective too.
	Close() error
}

// localComm is the communicator of a job with one process: rank 0 of 1.
// Its collectives leave the buffers as they are.
type localComm struct{}

func (localComm) Rank() int { return 0 }
func (localComm) Size() int { return 1 }

func (localComm) AllReduce(buf []float32) error { return nil }

func (c localComm) Broadcast(buf []float32, root int) error { return checkRoot(c, root) }

func (localComm) Close() error { return nil }

// meanOverRanks replaces buf, on every rank, with the element-wise mean of
// all ranks' buf.
func meanOverRanks(c Comm, buf []float32) error {
	if err := c.AllReduce(buf); err != nil {
		return err
	}
	scale(buf, c.Size())
	return nil
}

// scale divides buf by n, the ranks a sum went over.
func scale(buf []float32, n int) {
	if n == 1 {
		return
	}
	inv := float32(n)
	for i := range buf {
		buf[i] /= inv
	}
}

func checkRoot(c Comm, root int) error {
	if root < 0 || root >= c.Size() {
		return errorf("comm: broadcast root %d is not a rank of %d", root, c.Size())
	}
	return nil
}

// defaultBucketBytes is the size of a gradient bucket: large enough that
// the collectives' latency is small beside their transfer, small enough that
// the flat buffer costs little memory (PyTorch DDP's default is 25 MiB).
const defaultBucketBytes = 25 << 20

// buckets all-reduces many float32 slices (a model's gradients, one slice
// per parameter) through a few flat buffers: consecutive slices are packed
// into a bucket of at most BucketBytes, each bucket is reduced by one
// collective, and the results are copied back. A slice larger than a bucket
// is reduced in place on its own. The first call with a new list of lengths
// checks that every rank passes the same lengths, so a mismatch is an error
// on every rank rather than a hang or a silently wrong reduction. A buckets
// is not safe for concurrent use.
type buckets struct {
	comm   Comm
	limit  int       // elements per bucket
	flat   []float32 // the bucket buffer, allocated at first use
	layout []int     // the lengths last checked against the other ranks
}

// newBuckets returns buckets reducing over c in buckets of bucketBytes (0
// means defaultBucketBytes).
func newBuckets(c Comm, bucketBytes int) (*buckets, error) {
	if c == nil {
		return nil, errorf("newBuckets: nil communicator")
	}
	if bucketBytes == 0 {
		bucketBytes = defaultBucketBytes
	}
	if bucketBytes < 4 {
		return nil, errorf("newBuckets: bucket of %d bytes holds no float32", bucketBytes)
	}
	return &buckets{comm: c, limit: bucketBytes / 4}, nil
}

// AllReduce sums every slice over the ranks, in place, or averages it with
// mean set.
func (b *buckets) AllReduce(slices [][]float32, mean bool) error {
	if b.comm.Size() == 1 {
		return nil
	}
	if err := b.checkLayout(slices); err != nil {
		return err
	}
	start, used := 0, 0 // slices[start:i] are packed in flat[:used]
	flush := func(end int) error {
		if used == 0 {
			return nil
		}
		if err := b.reduce(b.flat[:used], mean); err != nil {
			return err
		}
		off := 0
		for _, s := range slices[start:end] {
			off += copy(s, b.flat[off:])
		}
		used = 0
		return nil
	}
	for i, s := range slices {
		if len(s) > b.limit {
			if err := flush(i); err != nil {
				return err
			}
			if err := b.reduce(s, mean); err != nil {
				return err
			}
			start = i + 1
			continue
		}
		if used+len(s) > b.limit {
			if err := flush(i); err != nil {
				return err
			}
			start = i
		}
		if b.flat == nil {
			b.flat = make([]float32, b.limit)
		}
		used += copy(b.flat[used:], s)
	}
	return flush(len(slices))
}

// reduce sums buf over the ranks, or averages it with mean set.
func (b *buckets) reduce(buf []float32, mean bool) error {
	if mean {
		return meanOverRanks(b.comm, buf)
	}
	return b.comm.AllReduce(buf)
}

// checkLayout makes sure every rank reduces slices of the same lengths:
// rank 0 broadcasts its count and lengths, each rank compares, and a sum of
// mismatch flags tells every rank the same verdict. It runs once per new
// list of lengths.
func (b *buckets) checkLayout(slices [][]float32) error {
	if len(slices) == len(b.layout) {
		same := true
		for i, s := range slices {
			same = same && len(s) == b.layout[i]
		}
		if same {
			return nil
		}
	}
	// Lengths travel as two float32 digits base 2^12, exact up to 2^36.
	const base = 1 << 12
	count := []float32{float32(len(slices) / base), float32(len(slices) % base)}
	mine := append([]float32(nil), count...)
	if err := b.comm.Broadcast(count, 0); err != nil {
		return err
	}
	if err := b.agree(count[0] != mine[0] || count[1] != mine[1], "the number of slices", len(slices)); err != nil {
		return err
	}
	lens := make([]float32, 0, 2*len(slices))
	for _, s := range slices {
		lens = append(lens, float32(len(s)/base), float32(len(s)%base))
	}
	mine = append(mine[:0], lens...)
	if err := b.comm.Broadcast(lens, 0); err != nil {
		return err
	}
	differ := false
	for i := range lens {
		differ = differ || lens[i] != mine[i]
	}
	if err := b.agree(differ, "the slice lengths", len(slices)); err != nil {
		return err
	}
	b.layout = b.layout[:0]
	for _, s := range slices {
		b.layout = append(b.layout, len(s))
	}
	return nil
}

// agree sums the ranks' differ flags, so that all ranks fail together.
func (b *buckets) agree(differ bool, what string, n int) error {
	flag := []float32{0}
	if differ {
		flag[0] = 1
	}
	if err := b.comm.AllReduce(flag); err != nil {
		return err
	}
	if flag[0] != 0 {
		return errorf("comm: %d of %d ranks differ from rank 0 in %s to all-reduce (rank %d: %d slices)",
			int(flag[0]), b.comm.Size(), what, b.comm.Rank(), n)
	}
	return nil
}

// deviceComm is a Comm that also reduces float32 buffers resident on a GPU,
// in place and without copies to the host (joinNCCL). Device is the GPU
// ordinal the rank uses; ptr is a CUDA device address in the context that
// is current on the calling OS thread.
type deviceComm interface {
	Comm
	Device() int
	AllReduceDevice(ptr uintptr, n int, mean bool) error
	BroadcastDevice(ptr uintptr, n int, root int) error
}

// JoinJob returns the communicator of the job this process belongs to:
// under an MPI launcher (mpirun), MPI's (a build with -tags baryirmpi) or,
// with gpu, NCCL's, which also reduces buffers on the GPU (tags baryirmpi
// and baryirgpu); run alone, a job of one, whose collectives leave the
// buffers as they are. A process that a launcher started in a build without
// MPI support gets ErrNoMPI rather than training alone beside its copies.
func JoinJob(gpu bool) (Comm, error) {
	// Set by Open MPI's mpirun, and by the PMI of MPICH's Hydra, Intel MPI
	// and Slurm, in the processes they start.
	launched := false
	for _, k := range []string{"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"} {
		_, ok := os.LookupEnv(k)
		launched = launched || ok
	}
	switch {
	case !launched:
		return localComm{}, nil
	case gpu:
		return joinNCCL()
	}
	return joinMPI()
}
