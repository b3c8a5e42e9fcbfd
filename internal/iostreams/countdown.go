package iostreams

import (
	"fmt"
	"sync"
	"time"

	"github.com/clipperhouse/displaywidth"
)

// countdownTick is how often the countdown is redrawn.
const countdownTick = time.Second

// StartCountdown shows on stderr, when it is a terminal, what is being
// waited for and how long is left, redrawn in place every second:
// "backlogctl: WHAT: 4s left". It returns the function that stops it and
// clears the line; it must be called before anything else is written to
// stderr. Nothing at all is written when stderr is not a terminal (a pipe,
// a log file).
func (s *IOStreams) StartCountdown(what string, d time.Duration) (stop func()) {
	if !s.stderrTTY || d <= 0 {
		return func() {}
	}
	end := time.Now().Add(d)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	draw := func() {
		left := max(0, time.Until(end)).Round(time.Second)
		line := fmt.Sprintf("backlogctl: %s: %s left", what, left)
		if w := s.stderrWidth(); w > 1 && displaywidth.String(line) >= w {
			line = displaywidth.TruncateString(line, w-1, "…")
		}
		fmt.Fprintf(s.ErrOut, "\r%s\x1b[K", line)
	}
	go func() {
		defer wg.Done()
		draw()
		t := time.NewTicker(countdownTick)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(s.ErrOut, "\r\x1b[K")
				return
			case <-t.C:
				draw()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// stderrWidth is the width of the terminal stderr goes to, 0 when unknown.
func (s *IOStreams) stderrWidth() int {
	ws, ok := winsize(s.ErrOut)
	if !ok {
		return 0
	}
	return int(ws.Col)
}
