package action

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/toe/exec"
)

// WebDownloadAttempts is how many times WebDownload tries a download
// (independent of the step's maxAttempts).
const WebDownloadAttempts = 5

func (m *modules) sleep(ctx context.Context, d time.Duration) error {
	if m.cfg.Sleep != nil {
		return m.cfg.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *modules) httpClient(insecure bool) *http.Client {
	base := m.cfg.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	if !insecure {
		return base
	}
	tr, ok := base.Transport.(*http.Transport)
	if !ok || tr == nil {
		tr = http.DefaultTransport.(*http.Transport)
	}
	tr = tr.Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // requested by ignoreCertificateErrors
	c := *base
	c.Transport = tr
	return &c
}

func (m *modules) webDownload(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
	var written []string
	for i, raw := range c.Inputs {
		p, err := m.webDownloadOne(ctx, c, input(raw))
		if err != nil {
			if len(c.Inputs) > 1 {
				err = fmt.Errorf("input %d: %w", i, err)
			}
			return nil, err
		}
		written = append(written, p)
	}
	return exec.Outputs{{"destination": strings.Join(written, "\n")}}, nil
}

func (m *modules) webDownloadOne(ctx context.Context, c *exec.Call, in input) (string, error) {
	src, err := in.require("source")
	if err != nil {
		return "", err
	}
	dst, err := in.require("destination")
	if err != nil {
		return "", err
	}
	u, err := url.Parse(src)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("WebDownload: source must be an http or https URL, got %q", src)
	}
	overwrite, err := in.boolean("overwrite", true)
	if err != nil {
		return "", err
	}
	insecure, err := in.boolean("ignoreCertificateErrors", false)
	if err != nil {
		return "", err
	}
	checksum, alg := strings.ToLower(strings.TrimSpace(in.str("checksum"))), in.str("algorithm")
	verify := checksum != "" && alg != ""
	if (checksum != "") != (alg != "") {
		return "", fmt.Errorf("WebDownload: checksum and algorithm must be given together")
	}
	if isFolderPath(dst) {
		name := path.Base(u.Path)
		if name == "" || name == "/" || name == "." {
			return "", fmt.Errorf("WebDownload: cannot derive a file name from %s; give a file destination", src)
		}
		dst = filepath.Join(dst, name)
	}
	if fi, err := os.Stat(dst); err == nil {
		if fi.IsDir() {
			return "", fmt.Errorf("WebDownload: destination %s is a folder (end it with '/' to download into it)", dst)
		}
		if !overwrite {
			return "", fmt.Errorf("WebDownload: %s already exists and overwrite is false", dst)
		}
		if verify {
			if got, err := exec.HashFile(alg, dst); err == nil && got == checksum {
				fmt.Fprintf(c.Console, "WebDownload: %s already matches the %s checksum; skipping download\n", dst, strings.ToUpper(alg))
				return dst, nil
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("WebDownload: %w", err)
	}
	client := m.httpClient(insecure)
	base := m.cfg.BackoffBase
	if base == 0 {
		base = time.Second
	}
	var lastErr error
	for attempt := 1; attempt <= WebDownloadAttempts; attempt++ {
		if attempt > 1 {
			d := base << (attempt - 2)
			c.Logf("WebDownload %s: attempt %d failed (%v); retrying in %v", src, attempt-1, lastErr, d)
			if err := m.sleep(ctx, d); err != nil {
				return "", err
			}
		}
		lastErr = fetch(ctx, client, src, dst)
		if lastErr == nil {
			break
		}
		if ctx.Err() != nil {
			return "", lastErr
		}
	}
	if lastErr != nil {
		return "", fmt.Errorf("WebDownload %s: giving up after %d attempts: %w", src, WebDownloadAttempts, lastErr)
	}
	if verify {
		got, err := exec.HashFile(alg, dst)
		if err != nil {
			return "", fmt.Errorf("WebDownload: %w", err)
		}
		if got != checksum {
			_ = os.Remove(dst)
			return "", fmt.Errorf("WebDownload: %s checksum mismatch for %s: expected %s, got %s", strings.ToUpper(alg), src, checksum, got)
		}
	}
	fmt.Fprintf(c.Console, "WebDownload: downloaded %s to %s\n", src, dst)
	return dst, nil
}

// fetch downloads url to dst through a temporary file. Redirects are
// followed by the client; any final status other than 200 is an error.
func fetch(ctx context.Context, client *http.Client, src, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP status %s", resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("reading body: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
