package initd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// metadata is what the init needs from the metadata service.
type metadata struct {
	InstanceID    string
	LocalHostname string
	PublicKeys    []string
	UserData      []byte
}

// errStatus is a definite answer from the service (not a network failure).
type errStatus struct {
	path string
	code int
}

func (e errStatus) Error() string { return fmt.Sprintf("%s: HTTP %d", e.path, e.code) }

// imdsClient speaks IMDSv2 (a session token first) and falls back to v1
// when the token PUT is refused.
type imdsClient struct {
	base  string
	hc    *http.Client
	token string
	v1    bool
}

func (c *imdsClient) getToken(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+"/latest/api/token", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "21600")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK:
		c.token, c.v1 = strings.TrimSpace(string(b)), false
		return nil
	case resp.StatusCode >= 500:
		return errStatus{"token", resp.StatusCode}
	case resp.StatusCode == http.StatusForbidden && !c.v1:
		// Endpoint disabled (or a proxy): v1 will say the same; report it.
		return errStatus{"token", resp.StatusCode}
	}
	c.token, c.v1 = "", true // 404/405/400: an IMDSv1-only service
	return nil
}

// get fetches one path; found is false on 404.
func (c *imdsClient) get(ctx context.Context, path string) (body []byte, found bool, err error) {
	for attempt := 0; attempt < 2; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
		if err != nil {
			return nil, false, err
		}
		if c.token != "" {
			req.Header.Set("X-aws-ec2-metadata-token", c.token)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, false, err
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return b, true, rerr
		case http.StatusNotFound:
			return nil, false, nil
		case http.StatusUnauthorized:
			if attempt == 0 {
				if err := c.getToken(ctx); err != nil {
					return nil, false, err
				}
				continue
			}
		}
		return nil, false, errStatus{path, resp.StatusCode}
	}
	return nil, false, errStatus{path, http.StatusUnauthorized}
}

func (c *imdsClient) fetch(ctx context.Context) (*metadata, error) {
	if err := c.getToken(ctx); err != nil {
		return nil, err
	}
	md := &metadata{}
	id, ok, err := c.get(ctx, "/latest/meta-data/instance-id")
	if err != nil {
		return nil, err
	}
	if !ok || len(id) == 0 {
		return nil, errStatus{"instance-id", http.StatusNotFound}
	}
	md.InstanceID = strings.TrimSpace(string(id))
	if h, ok, err := c.get(ctx, "/latest/meta-data/local-hostname"); err != nil {
		return nil, err
	} else if ok {
		md.LocalHostname = strings.TrimSpace(string(h))
	}
	list, ok, err := c.get(ctx, "/latest/meta-data/public-keys/")
	if err != nil {
		return nil, err
	}
	if ok {
		for _, line := range strings.Split(string(list), "\n") {
			idx, _, _ := strings.Cut(strings.TrimSpace(line), "=")
			if idx == "" {
				continue
			}
			k, ok, err := c.get(ctx, "/latest/meta-data/public-keys/"+idx+"/openssh-key")
			if err != nil {
				return nil, err
			}
			if ok && len(strings.TrimSpace(string(k))) > 0 {
				md.PublicKeys = append(md.PublicKeys, strings.TrimSpace(string(k)))
			}
		}
	}
	ud, ok, err := c.get(ctx, "/latest/user-data")
	if err != nil {
		return nil, err
	}
	if ok {
		md.UserData = ud
	}
	return md, nil
}

// fetchMetadata retries fetch with back-off until it succeeds, the
// service gives a definite refusal (403: endpoint disabled), or wait
// elapses.
func fetchMetadata(ctx context.Context, c *imdsClient, wait time.Duration, logf func(string, ...any)) (*metadata, error) {
	deadline := time.Now().Add(wait)
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		md, err := c.fetch(ctx)
		if err == nil {
			return md, nil
		}
		var st errStatus
		if errors.As(err, &st) && st.code == http.StatusForbidden {
			return nil, fmt.Errorf("metadata service refused (HttpEndpoint disabled?): %w", err)
		}
		if time.Now().Add(delay).After(deadline) {
			return nil, fmt.Errorf("metadata service unreachable after %d attempts: %w", attempt, err)
		}
		if attempt == 1 || attempt%10 == 0 {
			logf("waiting for the metadata service: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}
