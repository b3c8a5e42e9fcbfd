package sysctl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/internal/suggest"

	"github.com/backlogctl/backlogctl/sysctl/registry"
)

// KindText marks a key outside the registry: backlogctl knows nothing of its
// type, so a value is written as given (one line of text).
const KindText Kind = "text"

var (
	// ErrBadValue reports a value the key does not accept; nothing was written.
	ErrBadValue = errors.New("invalid value")
	// ErrUnknownKey reports a well-formed name that is not in the registry.
	ErrUnknownKey = errors.New("not a tunable backlogctl knows")
	// ErrReadOnlyKey reports a registry key backlogctl only reads (fs.file-nr).
	ErrReadOnlyKey = errors.New("read-only key")
)

// IsBadInput reports whether err is the caller's mistake (a malformed or
// unknown key, a bad value) rather than the host's refusal.
func IsBadInput(err error) bool {
	return errors.Is(err, ErrBadKey) || errors.Is(err, ErrBadValue) ||
		errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrReadOnlyKey)
}

// Resolve turns a name (dotted, slash path or alias) into its registry key.
// A well-formed name outside the registry is refused with ErrUnknownKey
// unless allowUnknown, which returns a KindText key for it.
func Resolve(name string, allowUnknown bool) (Key, error) {
	if k, ok := Lookup(name); ok {
		return k, nil
	}
	rel, err := KeyPath(name)
	if err != nil {
		return Key{}, err
	}
	if !allowUnknown {
		return Key{}, fmt.Errorf("%w: %q%s", ErrUnknownKey, name, suggest.DidYouMean(name, Names()))
	}
	return Key{Name: strings.ReplaceAll(rel, "/", "."), Kind: KindText}, nil
}

// ParseValue checks text against the key's type and range and returns it in
// the form to write: a decimal integer for registry keys, trimmed text
// otherwise. The ranges are the kernel's (proc_dointvec_minmax,
// proc_dou8vec_minmax, proc_doulongvec_minmax): a value outside them would be
// refused with EINVAL after other keys had been written.
func ParseValue(k Key, text string) (string, error) {
	s := strings.TrimSpace(text)
	if k.ReadOnly || k.Kind == KindTuple {
		return "", fmt.Errorf("%w: %s cannot be set", ErrReadOnlyKey, k.Name)
	}
	if s == "" {
		return "", fmt.Errorf("%w for %s: empty", ErrBadValue, k.Name)
	}
	if k.Kind == KindText {
		if strings.ContainsAny(s, "\n\r\x00") {
			return "", fmt.Errorf("%w for %s: %q has more than one line", ErrBadValue, k.Name, text)
		}
		for _, f := range strings.Fields(s) {
			if err := baseZero(k, f); err != nil {
				return "", err
			}
		}
		return s, nil
	}
	if err := baseZero(k, s); err != nil {
		return "", err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return "", fmt.Errorf("%w for %s: %s is out of range %d..%d", ErrBadValue, k.Name, s, k.Min, k.Max)
		}
		return "", fmt.Errorf("%w for %s: %q is not an integer (want %d..%d)", ErrBadValue, k.Name, s, k.Min, k.Max)
	}
	if v < k.Min || v > k.Max {
		return "", fmt.Errorf("%w for %s: %d is out of range %d..%d", ErrBadValue, k.Name, v, k.Min, k.Max)
	}
	return strconv.FormatInt(v, 10), nil
}

// ParseAssignment splits and validates one KEY=VALUE argument.
func ParseAssignment(arg string, allowUnknown bool) (Key, string, error) {
	name, value, ok := strings.Cut(arg, "=")
	if !ok {
		return Key{}, "", fmt.Errorf("%w %q: want KEY=VALUE", ErrBadValue, arg)
	}
	k, err := Resolve(strings.TrimSpace(name), allowUnknown)
	if err != nil {
		return Key{}, "", err
	}
	v, err := ParseValue(k, value)
	if err != nil {
		return Key{}, "", err
	}
	return k, v, nil
}

// baseZero refuses a number the kernel would read as another one: /proc/sys
// integers are parsed with base 0 (kernel/sysctl.c proc_get_long), so "010"
// is 8 and "0x10" is 16. backlogctl writes decimal only.
func baseZero(k Key, field string) error {
	digits := strings.TrimPrefix(strings.TrimPrefix(field, "+"), "-")
	if len(digits) < 2 || digits[0] != '0' {
		return nil
	}
	hex := digits[1] == 'x' || digits[1] == 'X'
	if !hex && (digits[1] < '0' || digits[1] > '9') {
		return nil // not a number: the type check says so
	}
	plain := strings.TrimLeft(digits, "0")
	if plain == "" {
		plain = "0"
	}
	base, body := 8, digits[1:]
	if hex {
		base, body = 16, digits[2:]
	}
	if v, err := strconv.ParseUint(body, base, 64); err == nil && body != "" {
		if hex {
			return fmt.Errorf("%w for %s: the kernel reads %q as %d (base 0: 0x is hex); write the decimal %d", ErrBadValue, k.Name, field, v, v)
		}
		return fmt.Errorf("%w for %s: the kernel reads %q as %d (base 0: a leading 0 is octal); write %d, or %s without the leading 0", ErrBadValue, k.Name, field, v, v, plain)
	}
	return fmt.Errorf("%w for %s: the kernel does not read %q as the decimal %s (base 0: a leading 0 is octal, 0x hex); write it without the leading 0", ErrBadValue, k.Name, field, plain)
}

// Lowers reports whether writing value over current lowers key: one rule for
// tune, sysctl set and (through LowersLimit) rlimit set, all refused without
// --allow-lower. Mode keys (tcp_syncookies) are never lowered, only switched;
// values that are not single integers (a port range) are not compared.
func Lowers(key, current, value string) bool {
	cur, err1 := strconv.ParseInt(strings.TrimSpace(current), 10, 64)
	val, err2 := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return LowersInt(key, cur, val)
}

// LowersInt is Lowers for values already parsed (registry.LowersInt).
func LowersInt(key string, current, value int64) bool { return registry.LowersInt(key, current, value) }

// IsMode reports whether key is a registry mode key (registry.IsMode).
func IsMode(key string) bool { return registry.IsMode(key) }
