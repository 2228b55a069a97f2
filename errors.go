package baryir

import (
	"fmt"
	"strings"
)

// prefix starts every error this package returns, once.
const prefix = "baryir: "

// prefixedError is an error of this package: its message starts with
// prefix once, however deeply the package's own errors wrap each other,
// and errors.Is and errors.As see everything it wraps.
type prefixedError struct {
	msg string
	err error // the fmt.Errorf error, whose wrapped errors Unwrap reaches
}

func (e *prefixedError) Error() string { return e.msg }
func (e *prefixedError) Unwrap() error { return e.err }

// errorf is fmt.Errorf for this package's errors: the message gets the
// package's prefix, and wrapped errors of this package lose theirs.
func errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &prefixedError{msg: prefix + strings.ReplaceAll(err.Error(), prefix, ""), err: err}
}
