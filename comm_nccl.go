//go:build baryirmpi && baryirgpu

package baryir

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The few NCCL declarations used (nccl.h, NCCL 2.10 and later), so that the
// build needs neither NCCL's headers nor its library: libnccl.so.2 is
// loaded at run time, as the GPU machine provides it.
typedef struct { char internal[128]; } baryirNcclUniqueId;
typedef void *baryirNcclComm;
enum { baryirNcclFloat32 = 7 };
enum { baryirNcclSum = 0, baryirNcclAvg = 4 };

static int (*pGetVersion)(int *);
static int (*pGetUniqueId)(baryirNcclUniqueId *);
static int (*pCommInitRank)(baryirNcclComm *, int, baryirNcclUniqueId, int);
static int (*pCommDestroy)(baryirNcclComm);
static int (*pAllReduce)(const void *, void *, size_t, int, int, baryirNcclComm, void *);
static int (*pBroadcast)(const void *, void *, size_t, int, int, baryirNcclComm, void *);
static const char *(*pGetErrorString)(int);

// baryir_nccl_load opens the library and finds the functions; it returns
// NULL or what went wrong.
static const char *baryir_nccl_load(const char *name) {
	void *lib = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
	if (!lib) return dlerror();
#define SYM(p, s) if (!(*(void **)&p = dlsym(lib, s))) return "symbol " s " not found";
	SYM(pGetVersion, "ncclGetVersion")
	SYM(pGetUniqueId, "ncclGetUniqueId")
	SYM(pCommInitRank, "ncclCommInitRank")
	SYM(pCommDestroy, "ncclCommDestroy")
	SYM(pAllReduce, "ncclAllReduce")
	SYM(pBroadcast, "ncclBroadcast")
	SYM(pGetErrorString, "ncclGetErrorString")
#undef SYM
	return NULL;
}

static int baryir_nccl_version(int *v) { return pGetVersion(v); }
static int baryir_nccl_unique_id(void *id) { return pGetUniqueId((baryirNcclUniqueId *)id); }
static int baryir_nccl_init_rank(baryirNcclComm *c, int n, const void *id, int rank) {
	baryirNcclUniqueId u;
	memcpy(&u, id, sizeof u);
	return pCommInitRank(c, n, u, rank);
}
static int baryir_nccl_destroy(baryirNcclComm c) { return pCommDestroy(c); }
// On the legacy default stream (NULL), where the machine queues its kernels.
// Device addresses travel as integers: they are not Go pointers.
static int baryir_nccl_allreduce(uintptr_t buf, size_t n, int op, baryirNcclComm c) {
	return pAllReduce((void *)buf, (void *)buf, n, baryirNcclFloat32, op, c, NULL);
}
static int baryir_nccl_bcast(uintptr_t buf, size_t n, int root, baryirNcclComm c) {
	return pBroadcast((void *)buf, (void *)buf, n, baryirNcclFloat32, root, c, NULL);
}
static const char *baryir_nccl_error(int rc) { return pGetErrorString(rc); }
*/
import "C"

import (
	"errors"
	"os"
	"sync"
	"unsafe"

	"gorgonia.org/cu"
)

// ncclLib is the NCCL library, loaded once per process.
var ncclLib struct {
	once    sync.Once
	version int
	err     error
}

// ncclMinVersion is NCCL 2.10, the first with ncclAvg.
const ncclMinVersion = 21000

func loadNCCL() error {
	l := &ncclLib
	l.once.Do(func() {
		name := C.CString("libnccl.so.2")
		defer C.free(unsafe.Pointer(name))
		if msg := C.baryir_nccl_load(name); msg != nil {
			l.err = errorf("nccl: loading libnccl.so.2: %s (put NCCL's library directory, e.g. PyTorch's nvidia/nccl/lib, on LD_LIBRARY_PATH)", C.GoString(msg))
			return
		}
		var v C.int
		if rc := C.baryir_nccl_version(&v); rc != 0 {
			l.err = ncclError("ncclGetVersion", rc)
			return
		}
		if l.version = int(v); l.version < ncclMinVersion {
			l.err = errorf("nccl: libnccl.so.2 is version %d; the mean (ncclAvg) needs 2.10 (%d) or later", l.version, ncclMinVersion)
		}
	})
	return l.err
}

// ncclComm reduces device buffers with NCCL and host buffers with MPI,
// which also bootstraps it.
type ncclComm struct {
	*mpiComm
	device int
	id     [128]byte // rank 0's ncclUniqueId
	comm   C.baryirNcclComm
	ready  bool // comm is made
}

// joinNCCL joins the job that mpirun started, as joinMPI does, and readies
// NCCL for its GPU buffers: libnccl.so.2 (2.10 or later) is loaded at run
// time, rank 0 makes NCCL's unique id and broadcasts it over MPI, and each
// rank takes GPU (local rank mod device count), where the local rank counts
// the ranks on the same node. NCCL refuses two ranks on one GPU, so a node
// must not run more ranks than it has GPUs (unless CUDA_VISIBLE_DEVICES
// gives each rank its own). The machine of package baryir runs on the
// first GPU the process sees, so on a node with several GPUs give each
// rank one: CUDA_VISIBLE_DEVICES=$OMPI_COMM_WORLD_LOCAL_RANK. The NCCL communicator itself is
// made by the first AllReduceDevice or BroadcastDevice, in the CUDA context
// current on the caller's thread (the machine's, on Device()); every later
// device call must come from that context too. Host buffers (AllReduce,
// Broadcast) are reduced by MPI. Every rank fails alike: if any rank cannot
// set up, all return an error.
func joinNCCL() (deviceComm, error) {
	m, err := openMPI()
	if err != nil {
		return nil, err
	}
	c := &ncclComm{mpiComm: m}
	if err := m.agree(c.setup()); err != nil {
		return nil, errors.Join(err, m.Close())
	}
	var idErr error
	if c.Rank() == 0 {
		if rc := C.baryir_nccl_unique_id(unsafe.Pointer(&c.id[0])); rc != 0 {
			idErr = ncclError("ncclGetUniqueId", rc)
		}
	}
	err = m.agree(idErr)
	if err == nil {
		err = m.broadcastBytes(c.id[:], 0)
	}
	if err != nil {
		return nil, errors.Join(err, m.Close())
	}
	return c, nil
}

// setup loads NCCL and picks this rank's GPU.
func (c *ncclComm) setup() error {
	if err := loadNCCL(); err != nil {
		return err
	}
	local, perNode, err := c.local()
	if err != nil {
		return err
	}
	n, err := cu.NumDevices()
	if err != nil {
		return errorf("nccl: counting GPUs: %w", err)
	}
	// With CUDA_VISIBLE_DEVICES the launcher or a wrapper gives each rank
	// its GPUs, which this process cannot tell apart from others'.
	if _, given := os.LookupEnv("CUDA_VISIBLE_DEVICES"); perNode > n && !given {
		return errorf("nccl: %d ranks on this node share %d GPU(s); NCCL needs a GPU per rank (start at most %d per node)", perNode, n, n)
	}
	c.device = local % n
	return nil
}

func (c *ncclComm) Device() int { return c.device }

// enter checks the caller's context and makes the NCCL communicator on the
// first call. It holds the MPI lock, which serialises device calls as well.
func (c *ncclComm) enter(n int) error {
	if n < 0 {
		return errorf("nccl: %d elements", n)
	}
	dev, err := cu.CurrentDevice()
	if err != nil {
		return errorf("nccl: no CUDA context current on this thread (%w); call from the machine's context on GPU %d", err, c.device)
	}
	if int(dev) != c.device {
		return errorf("nccl: the current CUDA context is on GPU %d, this rank's is GPU %d (give each rank its own GPU: CUDA_VISIBLE_DEVICES=$OMPI_COMM_WORLD_LOCAL_RANK)", int(dev), c.device)
	}
	if c.ready {
		return nil
	}
	if rc := C.baryir_nccl_init_rank(&c.comm, C.int(c.Size()), unsafe.Pointer(&c.id[0]), C.int(c.Rank())); rc != 0 {
		return ncclError("ncclCommInitRank", rc)
	}
	c.ready = true
	return nil
}

// AllReduceDevice queues the reduction of n float32 at device address ptr,
// in place, on the default stream: it runs after the kernels queued there
// before it and before those queued after it.
func (c *ncclComm) AllReduceDevice(ptr uintptr, n int, mean bool) error {
	if err := c.lock(); err != nil {
		return err
	}
	defer mpiState.mu.Unlock()
	if err := c.enter(n); err != nil || n == 0 {
		return err
	}
	nop := C.int(C.baryirNcclSum)
	if mean {
		nop = C.baryirNcclAvg
	}
	if rc := C.baryir_nccl_allreduce(C.uintptr_t(ptr), C.size_t(n), nop, c.comm); rc != 0 {
		return ncclError("ncclAllReduce", rc)
	}
	return nil
}

// BroadcastDevice queues the copy of root's n float32 at ptr to every rank,
// on the default stream as AllReduceDevice.
func (c *ncclComm) BroadcastDevice(ptr uintptr, n int, root int) error {
	if err := checkRoot(c, root); err != nil {
		return err
	}
	if err := c.lock(); err != nil {
		return err
	}
	defer mpiState.mu.Unlock()
	if err := c.enter(n); err != nil || n == 0 {
		return err
	}
	if rc := C.baryir_nccl_bcast(C.uintptr_t(ptr), C.size_t(n), C.int(root), c.comm); rc != 0 {
		return ncclError("ncclBroadcast", rc)
	}
	return nil
}

// Close destroys the NCCL communicator (if made), then the MPI one.
func (c *ncclComm) Close() error {
	var err error
	if c.ready {
		if e := c.lock(); e != nil {
			return e
		}
		if rc := C.baryir_nccl_destroy(c.comm); rc != 0 {
			err = ncclError("ncclCommDestroy", rc)
		}
		c.ready = false
		mpiState.mu.Unlock()
	}
	return errors.Join(err, c.mpiComm.Close())
}

func ncclError(call string, rc C.int) error {
	return errorf("nccl: %s: %s (code %d)", call, C.GoString(C.baryir_nccl_error(rc)), int(rc))
}
