package baryir

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func plainLines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

// In a log, a run prints one line per 10%, with count, percent, rate,
// elapsed time, ETA and the info text, and no duplicate at Finish.
func TestProgressPlainEveryTenPercent(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 100, "train", false)
	for i := range 100 {
		p.SetInfo(fmt.Sprintf("L1 %.3f", 1/float64(i+1)))
		p.Add(1)
	}
	p.Finish()
	got := plainLines(buf.String())
	require.Len(t, got, 10, buf.String())
	for i, l := range got {
		n := (i + 1) * 10
		for _, want := range []string{fmt.Sprintf("%d%%", n), fmt.Sprintf("(%d/100,", n), "it/", fmt.Sprintf("train L1 %.3f", 1/float64(n))} {
			require.Contains(t, l, want)
		}
		if n < 100 {
			require.Regexp(t, `\[\d+s:\d+s\]`, l, "elapsed:ETA")
		} else {
			require.Regexp(t, `\[\d+s\]`, l, "elapsed, no ETA at the end")
		}
	}
	require.NotContains(t, buf.String(), "\r")
}

// Slow work still logs a line at least every lineEvery.
func TestProgressPlainEveryFewSeconds(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 1000, "restore", false)
	p.lineEvery = 20 * time.Millisecond
	p.Add(1)
	require.Empty(t, buf.String(), "0.1%: no 10% step and no time passed")
	time.Sleep(30 * time.Millisecond)
	p.Add(1)
	require.Len(t, plainLines(buf.String()), 1)
	require.Contains(t, buf.String(), "(2/1000,")
}

// On a terminal the line is redrawn in place with carriage returns, at most
// ten times a second, and Finish draws the full bar and ends the line.
func TestProgressTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 1000, "train", true)
	p.SetInfo("L1 0.5")
	start := time.Now()
	for range 1000 {
		p.Add(1)
	}
	require.NotContains(t, buf.String(), "\n", "newline before Finish")
	draws := strings.Count(buf.String(), "\r")
	maxDraws := 2 * (int(time.Since(start)/progressRedraw) + 2) // a draw clears, then writes: two '\r' each
	require.LessOrEqual(t, draws, maxDraws, "throttled")
	p.Finish()
	out := buf.String()
	require.True(t, strings.HasSuffix(out, "\n"))
	last := out[strings.LastIndex(out, "\r")+1:]
	require.Contains(t, last, "100%")
	require.Contains(t, last, "(1000/1000,")
	require.Contains(t, last, "train L1 0.5")
	require.Contains(t, last, "["+strings.Repeat("=", 20)+"]")
}

func TestProgressFinishOnce(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 4, "train", false)
	p.Add(1)
	p.Finish()
	require.Len(t, plainLines(buf.String()), 2, "25%, then the end")
	require.Contains(t, buf.String(), "(4/4,")
	n := buf.Len()
	p.Finish()
	p.Add(3)
	require.Equal(t, n, buf.Len(), "output after Finish: %q", buf.String()[n:])
}

// A resumed run starts part way; an unknown total counts without percent.
func TestProgressSetAndUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 100, "train", false)
	p.Set(50)
	require.Contains(t, buf.String(), "(50/100,")

	buf.Reset()
	p = newProgress(&buf, 0, "files", false)
	p.Add(42)
	p.Finish()
	require.Len(t, plainLines(buf.String()), 1)
	require.Contains(t, buf.String(), "42")
	require.NotContains(t, buf.String(), "%")
}

func TestProgressNilWriterAndFiles(t *testing.T) {
	p := startProgress(nil, 10, "x")
	p.Add(10)
	p.Finish()

	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer f.Close()
	require.False(t, isTerminal(f))
	require.False(t, isTerminal(&bytes.Buffer{}))
}

// The rate counts from NewProgress, not from the first item done: one image
// restored in 50 ms is 20 it/s, not thousands.
func TestProgressRateFromStart(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 1, "restore", false)
	time.Sleep(50 * time.Millisecond)
	p.Add(1)
	p.Finish()
	m := regexp.MustCompile(`(\d+) it/(s|min)`).FindStringSubmatch(buf.String())
	require.NotNil(t, m, buf.String())
	rate, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	if m[2] == "s" { // a loaded machine can take a second over the sleep: the rate is then per minute
		require.LessOrEqual(t, rate, 20, buf.String())
	}
}
