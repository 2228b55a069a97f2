package baryir

// What the package's external tests (package baryir_test) read of its
// internals.

// MachineHostOps lists the ops a Machine runs on the host.
var MachineHostOps = (*Machine).hostOps
