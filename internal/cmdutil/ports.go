package cmdutil

// Ports validates --port values (1..65535) and converts them.
func Ports(in []uint) ([]uint16, error) {
	out := make([]uint16, 0, len(in))
	for _, p := range in {
		if p < 1 || p > 65535 {
			return nil, UsageErrorf("invalid --port %d: want 1..65535", p)
		}
		out = append(out, uint16(p))
	}
	return out, nil
}
