package trace

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
)

// Loaded reports which of hooks' programs the kernel still has, by ID (IDs
// are not reused while the kernel runs): the proof that Close left nothing.
// A detached program is freed after an RCU grace period, so it may linger
// for a moment after Close.
func Loaded(hooks []Hook) ([]Hook, error) {
	var still []Hook
	for _, h := range hooks {
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(h.ID))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up program %d: %w", h.ID, err)
		}
		p.Close()
		still = append(still, h)
	}
	return still, nil
}
