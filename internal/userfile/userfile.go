// Package userfile reads and replaces files whose path the user chose (a
// policy, the state record, a sysctl.d file, a systemd drop-in): it reads
// only regular files, and only up to a size cap, so /dev/zero or a FIFO
// fails at once instead of filling memory or blocking; it replaces them
// atomically, with temporary files kept beside them (WriteAtomic).
package userfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

var (
	// ErrTooLarge reports a file larger than the cap.
	ErrTooLarge = errors.New("file too large")
	// ErrNotRegular reports a device, FIFO, socket or directory.
	ErrNotRegular = errors.New("not a regular file")
)

// Read returns the content of path, refusing anything that is not a regular
// file and anything longer than max bytes. A missing file wraps
// fs.ErrNotExist as os.ReadFile's error does.
func Read(path string, max int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer before the
	// type check below refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, kind(st.Mode()))
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, st.Size(), max)
	}
	// The file may grow after the stat: read at most one byte past the cap.
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, max)
	}
	return b, nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}
