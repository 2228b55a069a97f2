//go:build !(baryirmpi && baryirgpu)

package baryir

// joinNCCL fails: NCCL needs a build with both -tags baryirmpi and baryirgpu.
func joinNCCL() (deviceComm, error) {
	return nil, errorf("built without NCCL support; rebuild with -tags baryirmpi,baryirgpu (needs cgo, Open MPI and the CUDA driver API headers)")
}
