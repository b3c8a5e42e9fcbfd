// Package metrics turns inspect snapshots into Prometheus metrics: a
// prometheus.Collector that gathers on every scrape, and the text exposition
// for node_exporter's textfile collector. It does no printing of its own.
package metrics
