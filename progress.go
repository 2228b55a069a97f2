package baryir

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress is a progress line for long work (training steps, images to
// restore): percent, a bar, count/total, rate, elapsed time, ETA, and a
// label with free-form info such as the current losses. The line is drawn by
// github.com/schollz/progressbar/v3.
//
// On a terminal the line is redrawn in place, at most ten times a second,
// so drawing never costs more than the work. On anything else (a file, a CI
// log) it prints whole lines only at every 10% of the work and at least
// every 10 seconds, so logs stay short and hold no carriage returns.
// Trainer.Run draws one when RunOptions.Progress is set. Its methods are safe
// for concurrent use.
type progressBar struct {
	mu        sync.Mutex
	bar       *progressbar.ProgressBar
	w         io.Writer
	tty       bool
	total     int
	label     string
	n         int
	lineEvery time.Duration // plain mode: a line at least this often
	last      time.Time     // plain mode: when the last line was printed
	lastStep  int           // plain mode: the last 10% step printed
	lastN     int           // plain mode: the count of the last line, -1 before any
	done      bool
}

const (
	progressRedraw  = 100 * time.Millisecond // terminal redraw limit
	progressLines   = 10 * time.Second       // plain lines at least this often
	progressPercent = 10                     // and at every such step of percent
)

// NewProgress starts a progress line of total items (0 or less: unknown, a
// spinner without percent or ETA) written to w, drawn in place when w is a
// terminal. A nil w draws nothing.
func startProgress(w io.Writer, total int, label string) *progressBar {
	if w == nil {
		w = io.Discard
	}
	return newProgress(w, total, label, isTerminal(w))
}

func newProgress(w io.Writer, total int, label string, tty bool) *progressBar {
	p := &progressBar{w: w, tty: tty, total: total, label: label, lineEvery: progressLines, last: time.Now(), lastN: -1}
	max := int64(total)
	if total <= 0 {
		max = -1
	}
	opts := []progressbar.Option{
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetPredictTime(total > 0),
		progressbar.OptionSetWidth(20),
		progressbar.OptionSetTheme(progressbar.Theme{Saucer: "=", SaucerHead: ">", SaucerPadding: " ", BarStart: "[", BarEnd: "]"}),
	}
	if tty {
		opts = append(opts, progressbar.OptionSetWriter(w), progressbar.OptionThrottle(progressRedraw))
	} else {
		// render every update off screen; print selected renders as lines
		opts = append(opts, progressbar.OptionSetWriter(io.Discard), progressbar.OptionThrottle(0))
	}
	p.bar = progressbar.NewOptions64(max, opts...)
	p.bar.StartWithoutRender() // rate and ETA count from now, not from the first item done
	return p
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Add advances the count by n.
func (p *progressBar) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(p.n + n)
}

// Set moves the count to i, as when a resumed run starts part way.
func (p *progressBar) Set(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(i)
}

// SetInfo sets the text shown after the label, e.g. the current losses; it
// appears with the next drawn line.
func (p *progressBar) SetInfo(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s != "" {
		s = p.label + " " + s
	} else {
		s = p.label
	}
	p.bar.Describe(s)
}

// Finish marks the work complete (a full bar, count = total), draws it and
// ends the line. Later calls, and Add or Set after it, do nothing.
func (p *progressBar) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	if p.total > 0 {
		p.n = max(p.n, p.total)
		_ = p.bar.Set(p.n)
	} else {
		_ = p.bar.Finish()
	}
	if p.tty {
		fmt.Fprintln(p.w)
		return
	}
	if p.lastN != p.n { // else the last line already shows the end
		p.print()
	}
}

func (p *progressBar) set(i int) {
	if p.done {
		return
	}
	p.n = i
	_ = p.bar.Set(i) // only fails for a zero total, which newProgress rules out
	if p.tty {
		return
	}
	step := -1
	if p.total > 0 {
		step = min(p.n, p.total) * 100 / p.total / progressPercent
	}
	if step > p.lastStep || time.Since(p.last) >= p.lineEvery {
		p.lastStep = max(step, p.lastStep)
		p.print()
	}
}

// print writes the bar's current render as one plain line.
func (p *progressBar) print() {
	p.last, p.lastN = time.Now(), p.n
	fmt.Fprintln(p.w, strings.TrimSpace(strings.TrimPrefix(p.bar.String(), "\r")))
}
