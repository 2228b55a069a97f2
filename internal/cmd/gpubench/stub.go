//go:build !baryirgpu

// Command gpubench times BaryIR on the GPU; it needs the baryirgpu build tag.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "gpubench: built without GPU support; rebuild with -tags baryirgpu")
	os.Exit(1)
}
