// Package progress draws a progress line for long work (training steps,
// tiles of an image): count/total, percent, rate, elapsed time, ETA and a
// free-form info text such as the current losses.
//
// On a terminal the line is redrawn in place with '\r', at most ten times a
// second so that drawing never costs more than the work. On anything else
// (a file, a CI log) it prints whole lines only every 10% or every few
// seconds, so logs stay short and readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	redrawEvery = 100 * time.Millisecond // terminal redraw limit
	lineEvery   = 10 * time.Second       // a plain line at least this often
	linePercent = 10                     // and at every such step of percent
	barWidth    = 20
)

// Bar is one progress line. Its methods are safe for concurrent use.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	label string
	info  string
	n     int
	tty   bool
	now   func() time.Time // a fake clock in tests

	start    time.Time
	last     time.Time // last draw or line
	lastStep int       // last 10% step printed (plain mode)
	lastN    int       // count of the last plain line, -1 before any
	width    int       // length of the last terminal line, to blank leftovers
	done     bool
}

// New starts a bar of total items (0 or less: unknown total, no percent or
// ETA) written to w, drawn in place when w is a terminal.
func New(w io.Writer, total int, label string) *Bar {
	return newBar(w, total, label, isTerminal(w), time.Now)
}

func newBar(w io.Writer, total int, label string, tty bool, now func() time.Time) *Bar {
	t := now()
	return &Bar{w: w, total: total, label: label, tty: tty, now: now, start: t, last: t, lastN: -1}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Add advances the count by n.
func (b *Bar) Add(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += n
	b.update()
}

// Set moves the count to i.
func (b *Bar) Set(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n = i
	b.update()
}

// SetInfo sets the text shown after the figures, e.g. the current losses;
// it appears with the next drawn line.
func (b *Bar) SetInfo(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.info = s
}

// Finish draws the final state and ends the line. Later calls do nothing.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	if b.tty {
		b.draw()
		fmt.Fprintln(b.w)
		return
	}
	if b.lastN != b.n { // else the last line already shows the end
		b.print(b.now())
	}
}

// update draws when due: on a terminal every redrawEvery; otherwise at each
// new 10% step or after lineEvery without a line.
func (b *Bar) update() {
	if b.done {
		return
	}
	t := b.now()
	if b.tty {
		if t.Sub(b.last) >= redrawEvery {
			b.draw()
		}
		return
	}
	step := -1
	if b.total > 0 {
		step = min(b.n, b.total) * 100 / b.total / linePercent
	}
	if step > b.lastStep || t.Sub(b.last) >= lineEvery {
		if step > b.lastStep {
			b.lastStep = step
		}
		b.print(t)
	}
}

// print writes one plain line.
func (b *Bar) print(t time.Time) {
	b.last, b.lastN = t, b.n
	fmt.Fprintln(b.w, b.line(t))
}

// draw rewrites the terminal line, blanking what a longer previous line left.
func (b *Bar) draw() {
	t := b.now()
	b.last = t
	s := b.line(t)
	pad := max(b.width-len(s), 0)
	b.width = len(s)
	fmt.Fprint(b.w, "\r"+s+strings.Repeat(" ", pad))
}

// line formats the state at time t.
func (b *Bar) line(t time.Time) string {
	el := t.Sub(b.start)
	var s strings.Builder
	if b.label != "" {
		s.WriteString(b.label + " ")
	}
	if b.total > 0 {
		frac := min(float64(b.n)/float64(b.total), 1)
		if b.tty {
			full := int(frac * barWidth)
			s.WriteString("[" + strings.Repeat("=", full) + strings.Repeat(" ", barWidth-full) + "] ")
		}
		fmt.Fprintf(&s, "%d/%d %5.1f%%", b.n, b.total, 100*frac)
	} else {
		fmt.Fprintf(&s, "%d", b.n)
	}
	rate := 0.0
	if el > 0 {
		rate = float64(b.n) / el.Seconds()
	}
	fmt.Fprintf(&s, " %s it/s elapsed %s", rateString(rate), duration(el))
	if b.total > 0 && b.n < b.total {
		if rate > 0 {
			eta := time.Duration(float64(b.total-b.n) / rate * float64(time.Second))
			s.WriteString(" ETA " + duration(eta))
		} else {
			s.WriteString(" ETA ?")
		}
	}
	if b.info != "" {
		s.WriteString(" " + b.info)
	}
	return s.String()
}

// rateString keeps three significant figures for slow and fast work alike.
func rateString(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

// duration formats d as m:ss, or h:mm:ss from an hour up.
func duration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
