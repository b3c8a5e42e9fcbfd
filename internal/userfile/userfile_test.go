package userfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 1025), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
		msg  string
	}{
		{name: "regular", path: small},
		{name: "over the cap", path: big, want: ErrTooLarge, msg: "1025 bytes, the limit is 1024"},
		{name: "endless device", path: "/dev/zero", want: ErrNotRegular, msg: "character device"},
		{name: "fifo without a writer", path: fifo, want: ErrNotRegular, msg: "FIFO"},
		{name: "directory", path: dir, want: ErrNotRegular, msg: "directory"},
		{name: "missing", path: filepath.Join(dir, "nope"), want: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Read(tt.path, 1024)
			if tt.want == nil {
				if err != nil || string(b) != "hello\n" {
					t.Fatalf("Read = %q, %v", b, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Read = %v; want %v saying %q", err, tt.want, tt.msg)
			}
		})
	}
}
