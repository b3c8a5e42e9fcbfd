// A stand-in for backlogctl in the image tests: `version -o json` prints
// the version set with -ldflags -X main.version=..., as backlogctl does.
package main

import (
	"fmt"
	"os"
)

var version = "dev"

func main() {
	if len(os.Args) == 4 && os.Args[1] == "version" && os.Args[3] == "json" {
		fmt.Printf("{\"version\": %q}\n", version)
		return
	}
	os.Exit(2)
}
