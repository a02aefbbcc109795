package segment

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestFrame(t *testing.T) {
	f := frameOf(t, 42, rec{value: []byte("a"), ts: 5}, rec{value: []byte("b"), ts: 9})
	h, err := CheckFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	if h.Base != 42 || h.Count != 2 || h.Next() != 44 || h.MaxTimestampMs != 9 || h.Size() != int64(len(f)) {
		t.Fatalf("header %+v", h)
	}
	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		wantErr error
	}{
		{"short header", func(b []byte) []byte { return b[:HeaderSize-1] }, ErrTorn},
		{"short frame", func(b []byte) []byte { return b[:len(b)-1] }, ErrTorn},
		{"zero len", func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 0); return b }, ErrTorn},
		{"huge len", func(b []byte) []byte { binary.LittleEndian.PutUint32(b, MaxFrameBytes+1); return b }, ErrTorn},
		{"magic", func(b []byte) []byte { b[8] = 2; return b }, ErrTorn},
		{"flags", func(b []byte) []byte { b[9] = 1; return b }, ErrTorn},
		{"zero count", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 0); return b }, ErrTorn},
		{"count too big for payload", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1000); return b }, ErrTorn},
		{"base out of range", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[16:], MaxOffset); return b }, ErrTorn},
		{"payload flip", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrCorrupt},
		{"timestamp flip", func(b []byte) []byte { b[24] ^= 0x80; return b }, ErrCorrupt},
		{"crc flip", func(b []byte) []byte { b[4] ^= 1; return b }, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(append([]byte(nil), f...))
			if _, err := CheckFrame(b); !errors.Is(err, tt.wantErr) {
				t.Fatalf("CheckFrame: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestShouldRoll(t *testing.T) {
	tests := []struct {
		size, incoming, max int64
		want                bool
	}{
		{0, 100, 10, false},
		{5, 5, 10, false},
		{5, 6, 10, true},
		{10, 1, 10, true},
	}
	for _, tt := range tests {
		if got := ShouldRoll(tt.size, tt.incoming, tt.max); got != tt.want {
			t.Errorf("ShouldRoll(%d, %d, %d) = %v", tt.size, tt.incoming, tt.max, got)
		}
	}
}

func TestNames(t *testing.T) {
	if got := LogName(42); got != "00000000000000000042.log" {
		t.Fatal(got)
	}
	if got := IndexName(42); got != "00000000000000000042.index" {
		t.Fatal(got)
	}
	tests := []struct {
		name   string
		want   uint64
		wantOK bool
	}{
		{"00000000000000000042.log", 42, true},
		{"18446744073709551615.log", 1<<64 - 1, true},
		{"99999999999999999999.log", 0, false},
		{"00000000000000000042.index", 0, false},
		{"0000000000000000042.log", 0, false},
		{"0000000000000000004x.log", 0, false},
		{"+0000000000000000042.log", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseBase(tt.name)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseBase(%q) = %d, %v", tt.name, got, ok)
		}
	}
}
