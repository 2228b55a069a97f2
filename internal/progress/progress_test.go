package progress

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clock is a fake time source advanced by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newFake(total int, tty bool) (*Bar, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return newBar(&buf, total, "train", tty, c.now), &buf, c
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

// In a log, a steady run prints one line per 10% and no duplicate at Finish.
func TestPlainEveryTenPercent(t *testing.T) {
	const total, step = 100, 100 * time.Millisecond
	b, buf, c := newFake(total, false)
	for range total {
		c.advance(step)
		b.Add(1)
	}
	b.Finish()
	got := lines(buf.String())
	if len(got) != 100/linePercent {
		t.Fatalf("%d lines, want %d:\n%s", len(got), 100/linePercent, buf.String())
	}
	rate := fmt.Sprintf("%.1f it/s", float64(time.Second/step))
	for i, l := range got {
		n := (i + 1) * total / (100 / linePercent)
		for _, s := range []string{"train ", fmt.Sprintf("%d/%d", n, total), fmt.Sprintf("%.1f%%", 100*float64(n)/total),
			rate, "elapsed " + duration(time.Duration(n)*step)} {
			if !strings.Contains(l, s) {
				t.Errorf("line %q lacks %q", l, s)
			}
		}
		if eta := "ETA " + duration(time.Duration(total-n)*step); n < total && !strings.Contains(l, eta) {
			t.Errorf("line %q lacks %q", l, eta)
		}
		if n == total && strings.Contains(l, "ETA") {
			t.Errorf("finished line %q still has an ETA", l)
		}
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("plain output holds a carriage return")
	}
}

// Slow work still logs a line at least every lineEvery, and not much more often.
func TestPlainEveryFewSeconds(t *testing.T) {
	const total, step, steps = 1000, 3 * time.Second, 60
	b, buf, c := newFake(total, false)
	for range steps { // 6% of the work: no 10% step reached
		c.advance(step)
		b.Add(1)
	}
	got := lines(buf.String())
	span := time.Duration(steps) * step
	per := int((lineEvery + step - 1) / step) // steps between lines
	if want := steps / per; len(got) != want {
		t.Fatalf("%d lines over %v, want %d:\n%s", len(got), span, want, buf.String())
	}
}

// On a terminal the line is redrawn in place, at most once per redrawEvery.
func TestTerminalThrottle(t *testing.T) {
	const total, step = 1000, 10 * time.Millisecond
	b, buf, c := newFake(total, true)
	for range total {
		c.advance(step)
		b.Add(1)
	}
	if strings.Contains(buf.String(), "\n") {
		t.Fatal("newline before Finish")
	}
	draws := strings.Count(buf.String(), "\r")
	if want := int(total * step / redrawEvery); draws != want {
		t.Errorf("%d redraws over %v, want %d", draws, total*step, want)
	}
	b.Finish()
	out := buf.String()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\r") != draws+1 {
		t.Errorf("Finish did not draw once and end the line: %q", out[max(len(out)-80, 0):])
	}
	last := out[strings.LastIndex(out, "\r")+1:]
	if full := "[" + strings.Repeat("=", barWidth) + "]"; !strings.Contains(last, full) {
		t.Errorf("final line %q lacks a full bar %q", last, full)
	}
}

// A shorter redraw blanks what the longer one before it left on screen.
func TestTerminalBlanksLeftovers(t *testing.T) {
	b, buf, c := newFake(10, true)
	b.SetInfo("loss 0.123456789 potential -1.5")
	c.advance(time.Second)
	b.Add(1)
	first := strings.TrimPrefix(buf.String(), "\r")
	buf.Reset()
	b.SetInfo("loss 0.1")
	c.advance(time.Second)
	b.Add(1)
	second := strings.TrimPrefix(buf.String(), "\r")
	if !strings.Contains(first, "potential -1.5") || !strings.Contains(second, "loss 0.1") {
		t.Fatalf("info not shown: %q, %q", first, second)
	}
	if len(second) < len(first) {
		t.Errorf("redraw %q (%d) shorter than the line it covers (%d)", second, len(second), len(first))
	}
}

func TestUnknownTotalAndSet(t *testing.T) {
	b, buf, c := newFake(0, false)
	c.advance(lineEvery)
	b.Set(42)
	b.Finish()
	out := buf.String()
	if !strings.Contains(out, "train 42 ") || strings.Contains(out, "%") || strings.Contains(out, "ETA") {
		t.Errorf("unknown total printed %q", out)
	}
	if n := len(lines(out)); n != 1 {
		t.Errorf("%d lines, want 1 (Finish repeats nothing): %q", n, out)
	}
}

func TestFinishOnce(t *testing.T) {
	b, buf, c := newFake(4, false)
	c.advance(time.Second)
	b.Add(1)
	b.Finish()
	n := buf.Len()
	b.Finish()
	c.advance(time.Minute)
	b.Add(3)
	if buf.Len() != n {
		t.Errorf("output after Finish: %q", buf.String()[n:])
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0:00"},
		{1500 * time.Millisecond, "0:02"},
		{59 * time.Second, "0:59"},
		{61 * time.Second, "1:01"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1:02:03"},
		{-time.Second, "0:00"},
	} {
		if got := duration(c.d); got != c.want {
			t.Errorf("duration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Error("a file or a buffer taken for a terminal")
	}
}
