package pth

import (
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
	{"shared_modules.pth", "modules visited"},
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
	files := []string{"state_dict.pth", "legacy.pth", "module.pth", "layouts.pth", "crafted/valid.pth", "crafted/valid_legacy.pth"}
	for _, c := range craftedCases {
		files = append(files, "crafted/"+c.file)
	}
	return files
}

// FuzzPth feeds damaged checkpoints to the reader. Its seed corpus in
// testdata/fuzz/FuzzPth holds the same files; TestWriteFuzzSeeds rewrites it.
func FuzzPth(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		ts, err := decode(raw, "")
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
