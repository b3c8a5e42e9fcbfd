package cmdutil

import (
	"context"
	"os/signal"
	"syscall"
)

// SignalContext is ctx, cancelled on SIGINT or SIGTERM, so long-running
// commands (watch, exporter) finish cleanly and print their summary.
func SignalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}
