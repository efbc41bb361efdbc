package sigv4

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkVerify measures header-form verification of a typical JSON
// request, deriving the signing key per request versus using a cached key.
func BenchmarkVerify(b *testing.B) {
	body := []byte(`{"KeyId":"alias/kiln","Plaintext":"aGVsbG8="}`)
	r, err := http.NewRequest("POST", "http://127.0.0.1:4566/", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	r.Header.Set("Amz-Sdk-Invocation-Id", "c1b6f4f2-0d8e-4d0e-9c1f-3a1f6a0b7e11")
	r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	ph := hashHex(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, ph, "kms", "us-east-1", testTime); err != nil {
		b.Fatal(err)
	}
	// A server sees Content-Length in r.Header.
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	c, err := Parse(r)
	if err != nil {
		b.Fatal(err)
	}
	if err := Verify(r, c, testSecret, ph, testTime, Options{}); err != nil {
		b.Fatal(err)
	}

	b.Run("derive", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := Verify(r, c, testSecret, ph, testTime, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		type scope struct{ secret, date, region, service string }
		var cache sync.Map
		b.ReportAllocs()
		for b.Loop() {
			k := scope{testSecret, c.Date, c.Region, c.Service}
			key, ok := cache.Load(k)
			if !ok {
				key, _ = cache.LoadOrStore(k, SigningKey(testSecret, c.Date, c.Region, c.Service))
			}
			if err := VerifyWithKey(r, c, key.([]byte), ph, testTime, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse+cached", func(b *testing.B) {
		key := SigningKey(testSecret, c.Date, c.Region, c.Service)
		b.ReportAllocs()
		for b.Loop() {
			c, err := Parse(r)
			if err != nil {
				b.Fatal(err)
			}
			if err := VerifyWithKey(r, c, key, ph, testTime, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
