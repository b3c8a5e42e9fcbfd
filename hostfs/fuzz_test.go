package hostfs

import (
	"bytes"
	"strconv"
	"testing"
)

// FuzzSocketInode: fd link targets; accepted ones are exactly socket:[N].
func FuzzSocketInode(f *testing.F) {
	for _, s := range []string{"socket:[123]", "socket:[]", "socket:[4294967296]", "pipe:[5]", "/dev/null", "socket:[12a]", "anon_inode:[eventpoll]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ino, ok := socketInode([]byte(s))
		if !ok {
			return
		}
		want := "socket:[" + strconv.FormatUint(uint64(ino), 10) + "]"
		// Leading zeros are the only other accepted spelling.
		if s != want && !bytes.HasPrefix([]byte(s), []byte("socket:[0")) {
			t.Fatalf("socketInode(%q) = %d, which prints as %q", s, ino, want)
		}
	})
}
