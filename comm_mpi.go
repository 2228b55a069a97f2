//go:build baryirmpi

package baryir

/*
#cgo pkg-config: ompi-c
#include <mpi.h>

// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, ...) are macros over
// addresses of its globals, which cgo cannot name: these wrappers can.

static int baryir_mpi_init(int *provided, int *already) {
	int finalized = 0;
	MPI_Finalized(&finalized);
	if (finalized) return -1;
	MPI_Initialized(already);
	if (*already) return MPI_Query_thread(provided);
	return MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
}

static int baryir_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }

static int baryir_mpi_dup_world(MPI_Comm *out) {
	int rc = MPI_Comm_dup(MPI_COMM_WORLD, out);
	if (rc != MPI_SUCCESS) return rc;
	return MPI_Comm_set_errhandler(*out, MPI_ERRORS_RETURN);
}

static int baryir_mpi_allreduce_sum(MPI_Comm c, float *buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, c);
}

static int baryir_mpi_bcast(MPI_Comm c, void *buf, int bytes, int root) {
	return MPI_Bcast(buf, bytes, MPI_BYTE, root, c);
}

// baryir_mpi_local sets the rank and size among the ranks on this node.
static int baryir_mpi_local(MPI_Comm c, int *rank, int *size) {
	MPI_Comm node;
	int rc = MPI_Comm_split_type(c, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
	if (rc != MPI_SUCCESS) return rc;
	MPI_Comm_rank(node, rank);
	MPI_Comm_size(node, size);
	return MPI_Comm_free(&node);
}

static void baryir_mpi_error_string(int rc, char *buf, int *len) {
	if (MPI_Error_string(rc, buf, len) != MPI_SUCCESS) *len = 0;
}

static int baryir_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
*/
import "C"

import (
	"errors"
	"math"
	"sync"
	"unsafe"
)

// mpiState is the process's MPI library: initialised by the first joinMPI,
// finalised when the last communicator closes (unless something else in the
// process had initialised it). MPI runs with MPI_THREAD_SERIALIZED, so every
// call holds mu.
var mpiState struct {
	mu       sync.Mutex
	open     int  // communicators not yet closed
	external bool // MPI was initialised before our first joinMPI
	done     bool // we finalised it; MPI cannot be initialised twice
}

// mpiComm is a duplicate of MPI_COMM_WORLD, with errors returned rather
// than fatal.
type mpiComm struct {
	comm       C.MPI_Comm
	rank, size int
	closed     bool
}

// joinMPI joins the job that mpirun (or another MPI launcher) started: it
// initialises MPI on first use and returns a communicator over all its
// processes, its own duplicate of MPI_COMM_WORLD. Collectives reduce in
// Open MPI on the host; every rank gets the same bits (the sum is reduced
// once and Mean divides it by Size on each rank alike). A process started
// without a launcher is a job of one. Close the communicator when done: the
// last Close finalises MPI, after which it cannot be opened again in this
// process.
func joinMPI() (Comm, error) { return openMPI() }

func openMPI() (*mpiComm, error) {
	s := &mpiState
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, errorf("mpi: MPI was finalised when the last communicator closed; a process can initialise it only once")
	}
	var provided, already C.int
	switch rc := C.baryir_mpi_init(&provided, &already); {
	case rc == -1:
		return nil, errorf("mpi: MPI was finalised elsewhere in this process")
	case rc != C.MPI_SUCCESS:
		return nil, mpiError("MPI_Init_thread", rc)
	}
	if s.open == 0 && already != 0 {
		s.external = true
	}
	if provided < C.baryir_mpi_thread_serialized() {
		return nil, errorf("mpi: the MPI library gives thread level %d, below MPI_THREAD_SERIALIZED, which Go's threads need", int(provided))
	}
	c := &mpiComm{}
	if rc := C.baryir_mpi_dup_world(&c.comm); rc != C.MPI_SUCCESS {
		return nil, mpiError("MPI_Comm_dup", rc)
	}
	var rank, size C.int
	C.MPI_Comm_rank(c.comm, &rank)
	C.MPI_Comm_size(c.comm, &size)
	c.rank, c.size = int(rank), int(size)
	s.open++
	return c, nil
}

func (c *mpiComm) Rank() int { return c.rank }
func (c *mpiComm) Size() int { return c.size }

// AllReduce sums in Open MPI (in chunks below its int count).
func (c *mpiComm) AllReduce(buf []float32) error {
	if err := c.lock(); err != nil {
		return err
	}
	defer mpiState.mu.Unlock()
	for rest := buf; len(rest) > 0; {
		n := min(len(rest), math.MaxInt32)
		if rc := C.baryir_mpi_allreduce_sum(c.comm, (*C.float)(unsafe.Pointer(&rest[0])), C.int(n)); rc != C.MPI_SUCCESS {
			return mpiError("MPI_Allreduce", rc)
		}
		rest = rest[n:]
	}
	return nil
}

func (c *mpiComm) Broadcast(buf []float32, root int) error {
	if err := checkRoot(c, root); err != nil {
		return err
	}
	if len(buf) == 0 {
		return nil
	}
	return c.broadcastBytes(unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 4*len(buf)), root)
}

func (c *mpiComm) broadcastBytes(buf []byte, root int) error {
	if err := c.lock(); err != nil {
		return err
	}
	defer mpiState.mu.Unlock()
	for rest := buf; len(rest) > 0; {
		n := min(len(rest), math.MaxInt32)
		if rc := C.baryir_mpi_bcast(c.comm, unsafe.Pointer(&rest[0]), C.int(n), C.int(root)); rc != C.MPI_SUCCESS {
			return mpiError("MPI_Bcast", rc)
		}
		rest = rest[n:]
	}
	return nil
}

// local returns the rank and the number of ranks on this node.
func (c *mpiComm) local() (rank, size int, err error) {
	if err := c.lock(); err != nil {
		return 0, 0, err
	}
	defer mpiState.mu.Unlock()
	var r, s C.int
	if rc := C.baryir_mpi_local(c.comm, &r, &s); rc != C.MPI_SUCCESS {
		return 0, 0, mpiError("MPI_Comm_split_type", rc)
	}
	return int(r), int(s), nil
}

// agree is a collective verdict: if err is not nil on any rank, every rank
// returns an error (its own, or one saying how many others failed), so that
// no rank goes on into a collective the others have left.
func (c *mpiComm) agree(err error) error {
	flag := []float32{0}
	if err != nil {
		flag[0] = 1
	}
	if e := c.AllReduce(flag); e != nil {
		return errors.Join(err, e)
	}
	switch {
	case err != nil:
		return err
	case flag[0] != 0:
		return errorf("mpi: %d of %d ranks failed", int(flag[0]), c.size)
	}
	return nil
}

// Close frees the communicator, and finalises MPI if it was the last one
// and MPI was ours to finalise. Later calls on it are errors.
func (c *mpiComm) Close() error {
	if err := c.lock(); err != nil {
		return err
	}
	defer mpiState.mu.Unlock()
	c.closed = true
	s := &mpiState
	s.open--
	if rc := C.MPI_Comm_free(&c.comm); rc != C.MPI_SUCCESS {
		return mpiError("MPI_Comm_free", rc)
	}
	if s.open == 0 && !s.external {
		s.done = true
		if rc := C.MPI_Finalize(); rc != C.MPI_SUCCESS {
			return mpiError("MPI_Finalize", rc)
		}
	}
	return nil
}

// lock takes the MPI lock for a call on an open communicator.
func (c *mpiComm) lock() error {
	mpiState.mu.Lock()
	if c.closed {
		mpiState.mu.Unlock()
		return errorf("mpi: communicator is closed")
	}
	return nil
}

func mpiError(call string, rc C.int) error {
	buf := make([]byte, int(C.baryir_mpi_max_error_string()))
	var n C.int
	C.baryir_mpi_error_string(rc, (*C.char)(unsafe.Pointer(&buf[0])), &n)
	if n <= 0 {
		return errorf("mpi: %s failed with code %d", call, int(rc))
	}
	return errorf("mpi: %s: %s", call, buf[:n])
}
