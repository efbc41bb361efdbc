package action

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// encoding is a normalised text encoding.
type encoding struct {
	width int // 1 (utf-8), 2 (utf-16), 4 (utf-32)
	big   bool
}

// parseEncoding accepts utf8, utf-8, utf16[-LE|-BE], utf-16[-LE|-BE],
// utf32…, case-insensitive; empty means utf-8. Bare utf16/utf32 are
// little-endian.
func parseEncoding(s string) (encoding, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	e = strings.ReplaceAll(e, "utf-", "utf")
	switch e {
	case "", "utf8":
		return encoding{width: 1}, nil
	case "utf16", "utf16le":
		return encoding{width: 2}, nil
	case "utf16-le":
		return encoding{width: 2}, nil
	case "utf16-be":
		return encoding{width: 2, big: true}, nil
	case "utf32", "utf32-le":
		return encoding{width: 4}, nil
	case "utf32-be":
		return encoding{width: 4, big: true}, nil
	}
	return encoding{}, fmt.Errorf("unsupported encoding %q", s)
}

func (e encoding) order() binary.ByteOrder {
	if e.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// encode converts UTF-8 text to the encoding (no byte-order mark).
func (e encoding) encode(s string) []byte {
	switch e.width {
	case 2:
		u := utf16.Encode([]rune(s))
		out := make([]byte, 2*len(u))
		for i, v := range u {
			e.order().PutUint16(out[2*i:], v)
		}
		return out
	case 4:
		rs := []rune(s)
		out := make([]byte, 4*len(rs))
		for i, r := range rs {
			e.order().PutUint32(out[4*i:], uint32(r))
		}
		return out
	}
	return []byte(s)
}

// decode converts encoded bytes to UTF-8 text, dropping a leading
// byte-order mark.
func (e encoding) decode(b []byte) (string, error) {
	switch e.width {
	case 2:
		if len(b)%2 != 0 {
			return "", fmt.Errorf("odd number of bytes for UTF-16")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = e.order().Uint16(b[2*i:])
		}
		if len(u) > 0 && u[0] == 0xFEFF {
			u = u[1:]
		}
		return string(utf16.Decode(u)), nil
	case 4:
		if len(b)%4 != 0 {
			return "", fmt.Errorf("byte count not a multiple of 4 for UTF-32")
		}
		var sb strings.Builder
		for i := 0; i < len(b); i += 4 {
			r := rune(e.order().Uint32(b[i:]))
			if i == 0 && r == 0xFEFF {
				continue
			}
			sb.WriteRune(r)
		}
		return sb.String(), nil
	}
	s := strings.TrimPrefix(string(b), "\uFEFF")
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("file is not valid UTF-8 text")
	}
	return s, nil
}
