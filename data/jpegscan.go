package data

import (
	"bufio"
	"errors"
	"io"
)

// MaxJPEGScans is the most scans (SOS segments) a JPEG may have. Go's
// decoder visits every block of the image on every scan of a progressive
// JPEG, so a small file of thousands of scans would cost minutes; encoders
// write at most a few dozen (libjpeg's progressive script 10, optimising
// encoders some tens).
const MaxJPEGScans = 256

// jpegScans counts the scans of the JPEG r holds, walking its markers as
// Go's decoder does (bytes between segments, entropy-coded data included,
// are passed over up to the next 0xFF that starts a marker), up to EOI, the
// end of the input, or one scan past MaxJPEGScans, whichever comes first.
// It reads each byte once and allocates nothing per segment. Damage is left
// for the decoder to report; only a missing SOI is an error here.
func jpegScans(r *bufio.Reader) (int, error) {
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil || soi != [2]byte{0xff, 0xd8} {
		return 0, errors.New("not a JPEG: no start-of-image marker")
	}
	scans := 0
	for scans <= MaxJPEGScans {
		if _, err := r.ReadSlice(0xff); err == bufio.ErrBufferFull {
			continue // no 0xFF in the buffer: go on looking
		} else if err != nil {
			return scans, nil
		}
		marker, err := r.ReadByte()
		for err == nil && marker == 0xff { // fill bytes
			marker, err = r.ReadByte()
		}
		switch {
		case err != nil:
			return scans, nil
		case marker == 0xd9: // EOI
			return scans, nil
		case marker == 0x00, 0xd0 <= marker && marker <= 0xd7:
			continue // a stuffed byte or RSTn: no length
		}
		var n [2]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return scans, nil
		}
		length := int(n[0])<<8 | int(n[1])
		if length < 2 {
			return scans, nil
		}
		if marker == 0xda { // SOS
			scans++
		}
		if _, err := r.Discard(length - 2); err != nil {
			return scans, nil
		}
	}
	return scans, nil
}
