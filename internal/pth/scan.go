package pth

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Limits on one pickle, checked by scanPickle before gopickle sees a byte.
// A real checkpoint stays far below them: the pickle of a whole BaryIR
// module is a few hundred kilobytes and some tens of thousands of opcodes,
// nested a few dozen deep.
const (
	maxPickleBytes = 64 << 20 // bytes of one pickle
	maxOps         = 2 << 20  // opcodes of one pickle; each makes at most a few small objects
	maxMarkDepth   = 10000    // MARKs open at once; gopickle keeps a stack per open MARK
	maxNumberBytes = 256      // digits or bytes of one integer or float (big.Int conversion is quadratic)
)

// argKind is the operand layout of a pickle opcode, as in Python's pickletools.
type argKind uint8

const (
	argNone    argKind = iota
	argFixed           // n bytes
	argLine            // up to and including '\n'
	argNumLine         // a line holding a number: at most maxNumberBytes
	arg2Lines          // module and name lines (GLOBAL, INST)
	argLen1            // 1-byte length, then that many bytes
	argLen4            // 4-byte little-endian length, then that many bytes
	argLen8            // 8-byte little-endian length, then that many bytes
	argNum1            // LONG1: 1-byte length of a little-endian integer
	argNum4            // LONG4: 4-byte length of a little-endian integer
	argFrame           // FRAME: 8-byte frame length, the frame holds the following opcodes
)

// opcode describes one pickle opcode: its operand and whether it opens or
// closes a MARK.
type opcode struct {
	arg  argKind
	n    int // bytes of an argFixed operand
	mark int // +1 opens a MARK, -1 pops one
	stop bool
}

// opcodes is every opcode of pickle protocols 0 to 5.
var opcodes = func() [256]*opcode {
	var t [256]*opcode
	set := func(c byte, o opcode) { t[c] = &o }
	for _, c := range []byte("0" + "2" + "N" + "Q" + "R" + "a" + "b" + "}" + "]" + "s" + ")" +
		"\x81\x85\x86\x87\x88\x89\x8f\x92\x93\x94\x97\x98") {
		set(c, opcode{arg: argNone})
	}
	set('(', opcode{mark: +1})
	for _, c := range []byte("1edltuo\x90\x91") { // POP_MARK APPENDS DICT LIST TUPLE SETITEMS OBJ ADDITEMS FROZENSET
		set(c, opcode{mark: -1})
	}
	set('.', opcode{stop: true})
	for _, c := range []byte("FILgp") { // FLOAT INT LONG GET PUT
		set(c, opcode{arg: argNumLine})
	}
	for _, c := range []byte("PSV") { // PERSID STRING UNICODE
		set(c, opcode{arg: argLine})
	}
	set('c', opcode{arg: arg2Lines})
	set('i', opcode{arg: arg2Lines, mark: -1}) // INST
	set('J', opcode{arg: argFixed, n: 4})
	set('K', opcode{arg: argFixed, n: 1})
	set('M', opcode{arg: argFixed, n: 2})
	set('G', opcode{arg: argFixed, n: 8})
	set('h', opcode{arg: argFixed, n: 1})
	set('j', opcode{arg: argFixed, n: 4})
	set('q', opcode{arg: argFixed, n: 1})
	set('r', opcode{arg: argFixed, n: 4})
	set('\x80', opcode{arg: argFixed, n: 1}) // PROTO
	set('\x82', opcode{arg: argFixed, n: 1}) // EXT1
	set('\x83', opcode{arg: argFixed, n: 2}) // EXT2
	set('\x84', opcode{arg: argFixed, n: 4}) // EXT4
	for _, c := range []byte("UC\x8c") {     // SHORT_BINSTRING SHORT_BINBYTES SHORT_BINUNICODE
		set(c, opcode{arg: argLen1})
	}
	for _, c := range []byte("TXB") { // BINSTRING BINUNICODE BINBYTES
		set(c, opcode{arg: argLen4})
	}
	for _, c := range []byte("\x8d\x8e\x96") { // BINUNICODE8 BINBYTES8 BYTEARRAY8
		set(c, opcode{arg: argLen8})
	}
	set('\x8a', opcode{arg: argNum1})
	set('\x8b', opcode{arg: argNum4})
	set('\x95', opcode{arg: argFrame})
	return t
}()

// scanPickle walks the opcodes of the pickle at the start of b without
// building anything, and returns the length of the pickle (through its STOP).
// It refuses a pickle whose operands reach past b or past the limits above,
// so that gopickle, which allocates what an operand's length says before
// reading it, only ever allocates bytes that are present.
func scanPickle(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("pickle expected, found the end of the file")
	}
	limit := min(len(b), maxPickleBytes)
	depth, ops := 0, 0
	for at := 0; ; {
		if at >= limit {
			if limit < len(b) {
				return 0, fmt.Errorf("pickle longer than %d bytes", maxPickleBytes)
			}
			return 0, fmt.Errorf("pickle truncated: no STOP opcode in %d bytes", len(b))
		}
		if ops++; ops > maxOps {
			return 0, fmt.Errorf("pickle has more than %d opcodes", maxOps)
		}
		c := b[at]
		op := opcodes[c]
		if op == nil {
			return 0, fmt.Errorf("not a pickle: unknown opcode 0x%02x at byte %d", c, at)
		}
		start := at
		at++
		rest := b[at:limit]
		n, err := operandLen(op, rest)
		if err != nil {
			return 0, fmt.Errorf("pickle opcode 0x%02x at byte %d: %w", c, start, err)
		}
		at += n
		if depth += op.mark; depth < 0 {
			return 0, fmt.Errorf("pickle opcode 0x%02x at byte %d pops a MARK that was never pushed", c, start)
		} else if depth > maxMarkDepth {
			return 0, fmt.Errorf("pickle nests more than %d MARKs", maxMarkDepth)
		}
		if op.stop {
			return at, nil
		}
	}
}

// operandLen is the length of op's operand at the start of rest.
func operandLen(op *opcode, rest []byte) (int, error) {
	need := func(n uint64, what string) (int, error) {
		if n > uint64(len(rest)) {
			return 0, fmt.Errorf("%s of %d bytes, only %d left", what, n, len(rest))
		}
		return int(n), nil
	}
	counted := func(width int, what string) (int, error) {
		if _, err := need(uint64(width), "length"); err != nil {
			return 0, err
		}
		var n uint64
		switch width {
		case 1:
			n = uint64(rest[0])
		case 4:
			n = uint64(binary.LittleEndian.Uint32(rest))
		case 8:
			n = binary.LittleEndian.Uint64(rest)
		}
		if n > uint64(len(rest)-width) {
			return 0, fmt.Errorf("%s of %d bytes, only %d left", what, n, len(rest)-width)
		}
		return width + int(n), nil
	}
	line := func(r []byte, max int) (int, error) {
		i := bytes.IndexByte(r, '\n')
		if i < 0 {
			return 0, fmt.Errorf("line without its newline")
		}
		if max > 0 && i > max {
			return 0, fmt.Errorf("number of %d characters (at most %d)", i, max)
		}
		return i + 1, nil
	}
	switch op.arg {
	case argNone:
		return 0, nil
	case argFixed:
		return need(uint64(op.n), "operand")
	case argLine:
		return line(rest, 0)
	case argNumLine:
		return line(rest, maxNumberBytes)
	case arg2Lines:
		n, err := line(rest, 0)
		if err != nil {
			return 0, err
		}
		m, err := line(rest[n:], 0)
		return n + m, err
	case argLen1:
		return counted(1, "string")
	case argLen4:
		return counted(4, "string")
	case argLen8:
		return counted(8, "string")
	case argNum1, argNum4:
		width := 1
		if op.arg == argNum4 {
			width = 4
		}
		n, err := counted(width, "integer")
		if err != nil {
			return 0, err
		}
		switch {
		case n-width > maxNumberBytes:
			return 0, fmt.Errorf("integer of %d bytes (at most %d)", n-width, maxNumberBytes)
		case n == width:
			return 0, fmt.Errorf("integer of 0 bytes") // valid Python, but gopickle indexes byte -1
		}
		return n, nil
	case argFrame:
		if _, err := need(8, "frame length"); err != nil {
			return 0, err
		}
		if n := binary.LittleEndian.Uint64(rest); n > uint64(len(rest)-8) {
			return 0, fmt.Errorf("frame of %d bytes, only %d left", n, len(rest)-8)
		}
		return 8, nil // the frame's contents are the opcodes that follow
	}
	return 0, fmt.Errorf("unhandled operand kind %d", op.arg)
}
