//go:build !baryirmpi

package baryir

import (
	"errors"
	"testing"
)

func TestJoinJobWithoutMPI(t *testing.T) {
	c, err := JoinJob(false)
	if err != nil || c.Size() != 1 {
		t.Fatalf("alone: %v, %v; want localComm", c, err)
	}
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2") // as mpirun starts a process
	if _, err := JoinJob(false); !errors.Is(err, ErrNoMPI) {
		t.Fatalf("under mpirun without MPI support: %v, want ErrNoMPI", err)
	}
	if _, err := JoinJob(true); err == nil {
		t.Fatal("NCCL under mpirun without support: no error")
	}
}
