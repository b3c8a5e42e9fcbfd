package cmdutil

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/backlogctl/backlogctl/sysctl"
)

// SignalContext is ctx, cancelled on SIGINT, SIGTERM or SIGHUP, so
// long-running commands (trace, watch, exporter) finish cleanly -- detach
// what they attached, print their final report -- however they are told to
// stop: Ctrl-C, kill, or a closed terminal or session.
func SignalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
}

// deferredSignals are the signals a write phase defers: Ctrl-C, kill's
// default, and a closed terminal.
var deferredSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// SignalGuard defers termination signals while a command writes: the
// signal is noted instead of killing the process, the command finishes the
// write in progress, restores what it wrote and exits with 128+signal.
type SignalGuard struct {
	ch     chan os.Signal
	mu     sync.Mutex
	caught syscall.Signal
}

// DeferSignals starts deferring SIGINT, SIGTERM and SIGHUP until Stop.
func DeferSignals() *SignalGuard {
	g := &SignalGuard{ch: make(chan os.Signal, len(deferredSignals))}
	signal.Notify(g.ch, deferredSignals...)
	return g
}

// Err returns an *InterruptedError once a deferred signal has arrived, nil
// before; it is the check a sysctl.Txn makes before each write.
func (g *SignalGuard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.caught == 0 {
		select {
		case s := <-g.ch:
			g.caught = s.(syscall.Signal)
		default:
			return nil
		}
	}
	return &InterruptedError{Signal: g.caught}
}

// Stop ends the deferral: from now on the signals act as usual.
func (g *SignalGuard) Stop() { signal.Stop(g.ch) }

// InterruptedError says a deferred signal stopped a write phase; the
// program exits with 128+signal, as a shell reports a killed command.
type InterruptedError struct{ Signal syscall.Signal }

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted by %s", signalName(e.Signal))
}

// Unwrap makes errors.Is(err, sysctl.ErrInterrupted) hold.
func (e *InterruptedError) Unwrap() error { return sysctl.ErrInterrupted }

// ExitCode is 128+signal: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.
func (e *InterruptedError) ExitCode() int { return 128 + int(e.Signal) }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}
