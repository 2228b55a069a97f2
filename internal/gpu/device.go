//go:build baryirgpu

package gpu

//go:generate sh kernels/gen.sh

import (
	_ "embed"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"gorgonia.org/cu"
)

//go:embed kernels/baryir.ptx
var ptxSource string

// Available reports whether this build has GPU support (it does).
const Available = true

// Buf is a float32 device buffer (or a view into one): N elements at Ptr.
type Buf struct {
	Ptr cu.DevicePtr
	N   int
}

// At returns the view of b starting at element off.
func (b Buf) At(off int) Buf {
	return Buf{Ptr: b.Ptr + cu.DevicePtr(4*off), N: b.N - off}
}

// Device is one CUDA context on a GPU with baryir's kernels loaded, a pool
// of reusable device buffers, and the first error of any asynchronous call.
// All its methods lock the calling goroutine to its OS thread and make the
// context current, so a Device may be used from any one goroutine at a time.
type Device struct {
	mu     sync.Mutex
	ctx    cu.CUContext
	mod    cu.Module
	fns    map[string]cu.Function
	name   string
	sms    int
	pool   map[int][]cu.DevicePtr // free buffers by element count
	owned  map[cu.DevicePtr]int   // every allocation and its size
	inUse  int64                  // bytes handed out
	held   int64                  // bytes allocated from the driver
	peak   int64                  // max held
	err    error
	locked int
	// gemmVariant, when set, is the SGEMM variant every product uses (ForceGemm).
	gemmVariant string
	// prec is the precision of Gemm now (UsePrecision; executors set theirs
	// around each run); lt is cuBLASLt, once loaded (LoadBLAS).
	prec Precision
	lt   *blas
}

// The process's GPU: device 0, opened on first use and kept for the
// process's lifetime (every user shares it; buffers return to its pool).
var shared struct {
	once sync.Once
	d    *Device
	err  error
}

// Shared returns the process's GPU, device 0, opening it on first use.
func Shared() (*Device, error) {
	shared.once.Do(func() { shared.d, shared.err = Open(0) })
	return shared.d, shared.err
}

// SharedMemory reports the bytes the shared GPU's buffers hold from the
// driver now and at most since the last call with reset (or since it was
// opened), releasing the pool of free buffers first, for benchmarks that
// measure one configuration after another. reset starts the peak afresh
// after reading it.
func SharedMemory(reset bool) (held, peak int64, err error) {
	d, err := Shared()
	if err != nil {
		return 0, 0, err
	}
	d.Release()
	held, peak, _, _ = d.MemStats()
	if reset {
		d.ResetPeak()
	}
	return held, peak, d.Err()
}

// Open makes a context on GPU ordinal and loads the kernels.
func Open(ordinal int) (*Device, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	if ordinal >= n {
		return nil, fmt.Errorf("gpu: device %d requested, %d present", ordinal, n)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	d := &Device{fns: map[string]cu.Function{}, pool: map[int][]cu.DevicePtr{}, owned: map[cu.DevicePtr]int{}}
	d.name, _ = dev.Name()
	d.sms, _ = dev.Attribute(cu.MultiprocessorCount)
	if d.ctx, err = dev.MakeContext(cu.SchedAuto); err != nil {
		return nil, fmt.Errorf("gpu: context: %w", err)
	}
	if d.mod, err = cu.LoadData(ptxSource); err != nil {
		return nil, fmt.Errorf("gpu: loading PTX: %w", err)
	}
	return d, nil
}

// Name is the GPU's name as the driver reports it.
func (d *Device) Name() string { return d.name }

// enter makes the context current on this goroutine's thread; call the
// returned function when done.
func (d *Device) enter() func() {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil && d.err == nil {
		d.err = fmt.Errorf("gpu: set context: %w", err)
	}
	return runtime.UnlockOSThread
}

// InContext runs f with the device's context current on the calling
// goroutine's OS thread, for libraries that queue work in it (NCCL).
func (d *Device) InContext(f func() error) error {
	defer d.enter()()
	return f()
}

// Err returns the first error recorded by an asynchronous call.
func (d *Device) Err() error { return d.err }

func (d *Device) fail(err error) {
	if err != nil && d.err == nil {
		d.err = err
	}
}

// Sync waits for all queued work and returns the first error met so far.
func (d *Device) Sync() error {
	defer d.enter()()
	if err := cu.Synchronize(); err != nil {
		d.fail(fmt.Errorf("gpu: synchronize: %w", err))
	}
	return d.err
}

// Alloc returns a buffer of n float32s, reusing a freed one of that size if any.
// Its contents are undefined.
func (d *Device) Alloc(n int) Buf {
	if n < 1 {
		n = 1
	}
	if l := d.pool[n]; len(l) > 0 {
		p := l[len(l)-1]
		d.pool[n] = l[:len(l)-1]
		d.inUse += int64(4 * n)
		return Buf{Ptr: p, N: n}
	}
	defer d.enter()()
	p, err := cu.MemAlloc(int64(4 * n))
	if err != nil {
		d.fail(fmt.Errorf("gpu: allocating %d floats (%.1f MiB held): %w", n, float64(d.held)/(1<<20), err))
		return Buf{}
	}
	d.owned[p] = n
	d.held += int64(4 * n)
	d.inUse += int64(4 * n)
	d.peak = max(d.peak, d.held)
	return Buf{Ptr: p, N: n}
}

// Free returns a buffer from Alloc to the pool. Work queued on it before
// stays ordered before any later use (one stream).
func (d *Device) Free(b Buf) {
	n, ok := d.owned[b.Ptr]
	if !ok || n != b.N {
		return
	}
	d.pool[n] = append(d.pool[n], b.Ptr)
	d.inUse -= int64(4 * n)
}

// Release gives every pooled (free) buffer back to the driver.
func (d *Device) Release() {
	defer d.enter()()
	for n, l := range d.pool {
		for _, p := range l {
			cu.MemFree(p)
			delete(d.owned, p)
			d.held -= int64(4 * n)
		}
		delete(d.pool, n)
	}
}

// MemStats reports bytes allocated from the driver now and at most so far,
// and the driver's free/total device memory.
func (d *Device) MemStats() (held, peak, free, total int64) {
	defer d.enter()()
	free, total, _ = cu.MemInfo()
	return d.held, d.peak, free, total
}

// ResetPeak starts the peak of MemStats afresh from what is held now, so a
// benchmark can measure one configuration after another.
func (d *Device) ResetPeak() { d.peak = d.held }

// Close frees everything and destroys the context.
func (d *Device) Close() {
	defer d.enter()()
	for p := range d.owned {
		cu.MemFree(p)
	}
	d.owned, d.pool = map[cu.DevicePtr]int{}, map[int][]cu.DevicePtr{}
	d.closeBLAS()
	d.ctx.Destroy()
}

// Upload copies host data into b (len(data) <= b.N).
func (d *Device) Upload(b Buf, data []float32) error {
	if len(data) > b.N {
		return fmt.Errorf("gpu: upload of %d floats into a buffer of %d", len(data), b.N)
	}
	if len(data) == 0 {
		return nil
	}
	defer d.enter()()
	if err := cu.MemcpyHtoD(b.Ptr, unsafe.Pointer(&data[0]), int64(4*len(data))); err != nil {
		d.fail(fmt.Errorf("gpu: upload: %w", err))
	}
	return d.err
}

// Download copies the first len(data) elements of b to the host (synchronous).
func (d *Device) Download(b Buf, data []float32) error {
	if len(data) > b.N {
		return fmt.Errorf("gpu: download of %d floats from a buffer of %d", len(data), b.N)
	}
	if len(data) == 0 {
		return nil
	}
	defer d.enter()()
	if err := cu.MemcpyDtoH(unsafe.Pointer(&data[0]), b.Ptr, int64(4*len(data))); err != nil {
		d.fail(fmt.Errorf("gpu: download: %w", err))
	}
	return d.err
}

// Copy queues a device-to-device copy of n floats.
func (d *Device) Copy(dst, src Buf, n int) {
	if n == 0 {
		return
	}
	defer d.enter()()
	if err := cu.MemcpyDtoDAsync(dst.Ptr, src.Ptr, int64(4*n), cu.Stream{}); err != nil {
		d.fail(fmt.Errorf("gpu: copy: %w", err))
	}
}

// i64 marks a kernel argument declared long long.
type i64 int64

// launch queues kernel name on the default stream. Arguments: Buf or
// cu.DevicePtr (pointers), int (int), i64 (long long), float32/float64 (float).
func (d *Device) launch(name string, grid [3]int, block, shared int, args ...any) {
	if d.err != nil {
		return
	}
	fn, ok := d.fns[name]
	if !ok {
		var err error
		if fn, err = d.mod.Function(name); err != nil {
			d.fail(fmt.Errorf("gpu: kernel %s: %w", name, err))
			return
		}
		d.fns[name] = fn
	}
	slots := make([]uint64, len(args))
	params := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case Buf:
			slots[i] = uint64(v.Ptr)
		case cu.DevicePtr:
			slots[i] = uint64(v)
		case int:
			slots[i] = uint64(uint32(int32(v)))
		case i64:
			slots[i] = uint64(v)
		case float32:
			slots[i] = uint64(math.Float32bits(v))
		case float64:
			slots[i] = uint64(math.Float32bits(float32(v)))
		default:
			d.fail(fmt.Errorf("gpu: kernel %s: argument %d has type %T", name, i, a))
			return
		}
		params[i] = unsafe.Pointer(&slots[i])
	}
	for i := range grid {
		if grid[i] < 1 {
			grid[i] = 1
		}
	}
	defer d.enter()()
	if err := fn.Launch(grid[0], grid[1], grid[2], block, 1, 1, shared, cu.Stream{}, params); err != nil {
		d.fail(fmt.Errorf("gpu: launching %s grid %v block %d: %w", name, grid, block, err))
	}
	runtime.KeepAlive(slots)
}

// elems launches an elementwise (grid-stride) kernel over n elements.
func (d *Device) elems(name string, n int, args ...any) {
	if n > math.MaxInt32 {
		d.fail(fmt.Errorf("gpu: kernel %s over %d elements: more than the 2^31 the kernels index", name, n))
		return
	}
	blocks := min((n+255)/256, 32*max(d.sms, 1))
	d.launch(name, [3]int{blocks, 1, 1}, 256, 0, args...)
}
