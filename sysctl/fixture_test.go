package sysctl

import (
	"testing"

	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

// fixtureTree writes files under a temporary directory: a stand-in for /proc/sys.
func fixtureTree(t *testing.T, files map[string]string) string {
	return sysctltest.Tree(t, files)
}

// baseTree holds every registry key at a typical value.
func baseTree(t *testing.T) string {
	return sysctltest.Tree(t, sysctltest.Base())
}
