// Package packaging holds what the deb and rpm packages install besides the
// binary (the exporter's systemd unit and its defaults file), and the tests
// that check them; it has no code.
package packaging
