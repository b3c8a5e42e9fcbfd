// Command backlogctl finds and fixes why TCP connections are dropped or stall
// before the server accepts them.
package main

import (
	"os"

	"github.com/backlogctl/backlogctl/internal/cmd/app"
)

func main() { os.Exit(app.Main()) }
