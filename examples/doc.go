// Package examples holds configuration for running backlogctl (Prometheus
// rules and scrape configuration, Kubernetes manifests) and the tests that
// check each file against its consumer's own schema; it has no code.
package examples
