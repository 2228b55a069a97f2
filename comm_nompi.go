//go:build !baryirmpi

package baryir

// OpenMPI returns ErrNoMPI: this build has no MPI support.
func OpenMPI() (Comm, error) { return nil, ErrNoMPI }
