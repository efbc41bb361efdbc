package kms

import (
	"testing"

	"github.com/kiln-dev/kiln/internal/kms"
)

func TestDataKeySize(t *testing.T) {
	n := func(v int32) *int32 { return &v }
	cases := []struct {
		spec string
		n    *int32
		want int
		code string
	}{
		{"AES_256", nil, 32, ""},
		{"AES_128", nil, 16, ""},
		{"", n(64), 64, ""},
		{"", nil, 0, kms.CodeValidation},
		{"AES_256", n(32), 0, kms.CodeValidation},
	}
	for _, tc := range cases {
		got, err := dataKeySize(tc.spec, tc.n)
		if got != tc.want || kms.Code(err) != tc.code {
			t.Errorf("%q %v: got %d %v", tc.spec, tc.n, got, err)
		}
	}
	if err := symmetricOnly("RSAES_OAEP_SHA_256"); kms.Code(err) != kms.CodeInvalidKeyUsage {
		t.Errorf("asymmetric algorithm: %v", err)
	}
}
