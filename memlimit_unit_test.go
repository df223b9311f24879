package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// TestSize: --memory-max's values, as systemd's MemoryMax= writes them
// (base 1024, upper-case suffixes), and what is refused, each with a
// message that names the value and what is allowed.
func TestSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "100": 100, "512B": 512, "1K": 1024, "64M": 64 << 20, "2G": 2 << 30, "3T": 3 << 40, "1P": 1 << 50, "7E": 7 << 60,
		"1.5G": 3 << 29, "0.5K": 512, "1.5": 1, "1.0009765625K": 1025, "10.75M": 10*(1<<20) + 3<<18,
		"9223372036854775807": math.MaxInt64, "9223372036854775807B": math.MaxInt64,
		"007M": 7 << 20, "7.5E": 7<<60 + 1<<59,
		"0.001K": 1, // 1.024 bytes, rounded down as systemd does
	} {
		var z Size
		if err := z.UnmarshalText([]byte(in)); err != nil || int64(z) != want {
			t.Errorf("Size(%q) = %d, %v; want %d", in, z, err, want)
		}
	}
	for _, in := range []string{"", "M", "x", "64m", "64k", "1g", "64MB", "64MiB", "64Mi", "1KB", "64 M", " 64M", "64M ",
		"+64M", "1e6", "0x40", ".5M", "5.M", "1.2.3M", "1G512M", "1G 512M", "64X", "1_000", "infinity", "50%"} {
		z := Size(7)
		err := z.UnmarshalText([]byte(in))
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(in)+" is not a size: a number of bytes, or a number with K, M, G, T, P or E after it (base 1024, upper case") || z != 7 {
			t.Errorf("Size(%q) = %d, %v; want an error naming the value and the units, and the value left alone", in, z, err)
		}
	}
	for _, in := range []string{"-1", "-64M", "-0", "-1.5G"} {
		z := Size(7)
		if err := z.UnmarshalText([]byte(in)); err == nil || err.Error() != strconv.Quote(in)+" is negative; give a size more than 0" || z != 7 {
			t.Errorf("Size(%q) = %d, %v; want negative, and the value left alone", in, z, err)
		}
	}
	for _, in := range []string{"0", "0M", "0.0G", "000", "0.0001K", "0B"} {
		z := Size(7)
		if err := z.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), strconv.Quote(in)+" is not more than 0 bytes") || z != 7 {
			t.Errorf("Size(%q) = %d, %v; want not more than 0, and the value left alone", in, z, err)
		}
	}
	for _, in := range []string{"9223372036854775808", "8E", "8192P", "99999999999999999999", "99999999999999999999K",
		"8388608T", "7.9999999999999999999E", "18446744073709551616", "16E", "9007199254740992K"} {
		z := Size(7)
		err := z.UnmarshalText([]byte(in))
		if err == nil || err.Error() != strconv.Quote(in)+" is too large (at most 9223372036854775807 bytes, just under 8E)" || z != 7 {
			t.Errorf("Size(%q) = %d, %v; want too large, and the value left alone", in, z, err)
		}
	}
	for z, want := range map[Size]string{1: "1", 1000: "1000", 1024: "1K", 1536: "1536", 1536 << 10: "1536K",
		64 << 20: "64M", 3 << 30: "3G", 1 << 40: "1T", 1 << 50: "1P", 7 << 60: "7E", math.MaxInt64: "9223372036854775807"} {
		if got := z.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(z), got, want)
		}
	}
}
