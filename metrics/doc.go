// Package metrics turns model snapshots into Prometheus metrics: a
// prometheus.Collector that asks its source for a snapshot on every scrape
// and exposes it through one collector per source (listeners, traced
// evidence, host), as node_exporter does, and the text exposition for
// node_exporter's textfile collector. It does no printing of its own.
package metrics
