package sigv4_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kiln-dev/kiln/internal/api/sigv4"
)

// A server routes on the parsed credential, looks the secret up, then
// verifies. The payload hash is over the body exactly as received.
func Example() {
	handler := func(r *http.Request, bodySHA256 string, now time.Time, secretFor func(akid string) (string, bool)) error {
		c, err := sigv4.Parse(r)
		if err != nil {
			return err // ErrMissingAuth or ErrMalformed
		}
		secret, ok := secretFor(c.AccessKeyID)
		if !ok {
			return errors.New("InvalidClientTokenId")
		}
		opt := sigv4.Options{S3: c.Service == "s3"}
		return sigv4.Verify(r, c, secret, bodySHA256, now, opt)
	}
	r, _ := http.NewRequest("GET", "http://localhost:4566/", nil)
	err := handler(r, sigv4.EmptySHA256, time.Now(), nil)
	fmt.Println(errors.Is(err, sigv4.ErrMissingAuth))
	// Output: true
}
