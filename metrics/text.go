package metrics

import (
	"fmt"
	"io"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/backlogctl/backlogctl/model"
)

var prometheusInf = math.Inf(1)

// NewRegistry returns a registry holding only c: no Go runtime or process
// metrics, since backlogctl reports on the host, not on itself.
func NewRegistry(c *Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("registering the collector: %w", err)
	}
	return reg, nil
}

// WriteText writes m once in the Prometheus text exposition format, as
// node_exporter's textfile collector reads it.
func WriteText(w io.Writer, m *model.MultiSnapshot, maxListeners int) error {
	reg, err := NewRegistry(&Collector{
		Source:       func() (*model.MultiSnapshot, error) { return m, nil },
		MaxListeners: maxListeners,
	})
	if err != nil {
		return err
	}
	families, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("gathering metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("writing metrics: %w", err)
		}
	}
	return nil
}
