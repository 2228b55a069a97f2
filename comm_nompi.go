//go:build !baryirmpi

package baryir

// joinMPI returns ErrNoMPI: this build has no MPI support.
func joinMPI() (Comm, error) { return nil, ErrNoMPI }
