package pth

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// craftedCases are the hostile files testdata/gen_crafted.py writes, with
// what the error must say. Each must fail fast, without a panic or an
// allocation the file did not pay for.
var craftedCases = []struct{ file, says string }{
	{"empty.pth", "empty file"},
	{"zeros.pth", "unknown opcode 0x00 at byte 0"},
	{"huge_storage.pth", "of 100000000000 elements needs 400000000000 bytes, the archive holds 16"},
	{"huge_storage_legacy.pth", "needs 400000000000 bytes, the file holds 283"},
	{"negative_storage.pth", "of -1 elements"},
	{"overflow_storage.pth", "overflows"},
	{"legacy_count_mismatch.pth", "holds 5 elements but was declared with 4"},
	{"legacy_truncated.pth", "truncated"},
	{"legacy_view.pth", "view of another storage"},
	{"overflow_size.pth", "shape [4611686018427387904 4] with strides [4 1] overflows"},
	{"overflow_stride.pth", "overflows"},
	{"outside_storage.pth", "reach element 4 of a storage of 4 elements"},
	{"negative_stride.pth", "negative size, stride or offset"},
	{"unknown_storage.pth", "unsupported storage class torch.FooStorage"},
	{"missing_record.pth", "no record archive/data/7"},
	{"shared_storage.pth", "more than twice the elements"},
	{"zip_bomb.pth", "refused as a zip bomb"},
	{"shared_modules.pth", "names the same dicts over and over"},
	{"long_string.pth", "string of 4026531840 bytes, only 4 left"},
	{"long_bytes8.pth", "string of 9223372036854775808 bytes"},
	{"long_frame.pth", "frame of 1099511627776 bytes"},
	{"long_integer.pth", "integer of 300 bytes (at most 256)"},
	{"no_stop.pth", "no STOP opcode"},
	{"deep_marks.pth", "more than 10000 MARKs"},
	{"unhashable_key.pth", "unhashable"},
	{"raw_long_string.pth", "string of 4294967295 bytes, only 4 left"},
}

func TestCraftedFiles(t *testing.T) {
	for _, name := range []string{"valid.pth", "valid_legacy.pth"} {
		ts, err := Load(filepath.Join("testdata", "crafted", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w := ts["w"]; fmt.Sprint(w.Shape, w.Data) != "[2 2] [0 0.25 0.5 0.75]" {
			t.Fatalf("%s: w = %v %v", name, w.Shape, w.Data)
		}
	}
	for _, c := range craftedCases {
		t.Run(c.file, func(t *testing.T) {
			start := time.Now()
			_, err := Load(filepath.Join("testdata", "crafted", c.file))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// seedFiles are FuzzPth's seeds: the crafted files and real torch.save output.
func seedFiles() []string {
	files := []string{"state_dict.pth", "legacy.pth", "module.pth", "layouts.pth", "crafted/valid.pth", "crafted/valid_legacy.pth",
		lightningDir + "promptir_nostate.ckpt", lightningDir + "promptir_noprefix.ckpt"}
	for _, c := range craftedCases {
		files = append(files, "crafted/"+c.file)
	}
	return files
}

// FuzzPth feeds damaged checkpoints to the reader. Its seed corpus in
// testdata/fuzz/FuzzPth holds the same files; TestWriteFuzzSeeds rewrites it.
func FuzzPth(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		ts, err := Decode(raw, "")
		if err != nil {
			return
		}
		total := 0
		for _, tn := range ts {
			total += len(tn.Data)
		}
		if total > 2*len(raw)+4096 { // every storage element costs at least one byte
			t.Fatalf("%d elements from %d bytes", total, len(raw))
		}
	})
}

// TestWriteFuzzSeeds writes seedFiles as the committed seed corpus of
// FuzzPth. Run with BARYIR_WRITE_SEEDS=1 after regenerating the files.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("BARYIR_WRITE_SEEDS") == "" {
		t.Skip("set BARYIR_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzPth")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range seedFiles() {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sharedDicts is a zip checkpoint whose top-level dict holds outer entries,
// every one naming the same dict of inner non-tensor entries: a few bytes a
// reference, outer*inner entries for a walker that copies the shared dict
// each time.
func sharedDicts(t *testing.T, outer, inner int, key func(int) string) []byte {
	t.Helper()
	str := func(b []byte, s string) []byte { return append(append(b, 0x8c, byte(len(s))), s...) }
	p := []byte{0x80, 2, '}', '('} // PROTO 2, the top dict, MARK
	for i := range outer {
		p = str(p, key(i))
		if i > 0 {
			p = append(p, 'h', 1) // BINGET 1: the shared dict
			continue
		}
		p = append(p, '}', 'q', 1, '(')
		for j := range inner {
			p = append(str(p, fmt.Sprint("v", j)), 'K', byte(j))
		}
		p = append(p, 'u')
	}
	p = append(p, 'u', '.')
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, err := z.Create("archive/data.pkl")
	if err == nil {
		_, err = w.Write(p)
	}
	if err == nil {
		err = z.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSharedDictsLinear: a dict named from every entry of the top-level dict
// is walked once, so the time grows with the file, not with its square; and
// the error lists a few of the keys, quoted.
func TestSharedDictsLinear(t *testing.T) {
	for _, n := range []int{5000, 20000, 60000} {
		raw := sharedDicts(t, n, n, func(i int) string { return fmt.Sprint("k", i) })
		start := time.Now()
		_, err := Decode(raw, "")
		d := time.Since(start)
		t.Logf("%d x %d shared entries, %d-byte file: %v", n, n, len(raw), d)
		if err == nil || !strings.Contains(err.Error(), "no tensors found") || !strings.Contains(err.Error(), fmt.Sprintf("... %d more]", n-20)) {
			t.Fatalf("error %v", err)
		}
		if d > 2*time.Second {
			t.Fatalf("%d x %d took %v", n, n, d)
		}
	}
	raw := sharedDicts(t, 2, 1, func(i int) string { return fmt.Sprint("k\x1b]0;owned\x07", i) })
	_, err := Decode(raw, "")
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\x07") || !strings.Contains(err.Error(), `"k\x1b]0;owned\a0"`) {
		t.Fatalf("control bytes not escaped: %q", err)
	}
}

// TestWriteSharedDictsSeed adds a small shared-dict checkpoint to FuzzPth's
// corpus (BARYIR_WRITE_SEEDS=1).
func TestWriteSharedDictsSeed(t *testing.T) {
	if os.Getenv("BARYIR_WRITE_SEEDS") == "" {
		t.Skip("set BARYIR_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	raw := sharedDicts(t, 40, 40, func(i int) string { return fmt.Sprint("k", i) })
	seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
	if err := os.WriteFile(filepath.Join("testdata", "fuzz", "FuzzPth", "shared_dicts"), []byte(seed), 0o644); err != nil {
		t.Fatal(err)
	}
}
