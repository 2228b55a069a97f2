//go:build !amd64

package op

const hasFMA = false

func kern6x16(k int, a, b, c *float32, ldc int, store int) { panic("no kernel") }

func packBT16(dst, src *float32, ld, blocks int) { panic("no kernel") }

func packA6(dst, src *float32, ld, blocks int, alpha float32) { panic("no kernel") }

func packBN16(dst, src *float32, ld, kb, strips int) { panic("no kernel") }
