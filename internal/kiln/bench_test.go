package kiln_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// BenchmarkDescribeKeyPairs replays one signed DescribeKeyPairs request
// (10 key pairs) through the whole front door, in process.
func BenchmarkDescribeKeyPairs(b *testing.B) {
	t := &testing.T{}
	e := start(t)
	c := ec2.NewFromConfig(e.cfg("us-east-1"))
	for i := 0; i < 10; i++ {
		if _, err := c.CreateKeyPair(context.Background(), &ec2.CreateKeyPairInput{KeyName: aws.String(fmt.Sprintf("k%d", i))}); err != nil {
			b.Fatal(err)
		}
	}
	body := "Action=DescribeKeyPairs&Version=2016-11-15"
	req, _ := http.NewRequest("POST", "http://"+strings.TrimPrefix(e.endpoint, "http://")+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	creds, _ := e.cfg("us-east-1").Credentials.Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	h := e.k.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := req.Clone(context.Background())
			r.Body = nopCloser{strings.NewReader(body)}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
		}
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }
