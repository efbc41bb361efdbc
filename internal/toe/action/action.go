// Package action implements the AWSTOE action modules (ExecuteBash,
// ExecuteBinary, ExecuteDocument, Assert, S3Download, S3Upload,
// WebDownload, the file-system modules, Reboot, UpdateOS) behind the
// exec.Action interface. Windows-only modules are registered too and fail
// at run time on Linux with a clear error.
package action

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/toe/exec"
)

// Config carries the dependencies of the modules.
type Config struct {
	// OS is the platform the runner is on ("linux").
	OS string
	// S3 returns an S3 client; nil disables S3Download/S3Upload.
	S3 func(ctx context.Context) (S3API, error)
	// HTTPClient is used by WebDownload (nil: a default client). When
	// ignoreCertificateErrors is set a client with verification disabled
	// is derived from it.
	HTTPClient *http.Client
	// Sleep waits between WebDownload retries (nil: time.Sleep honoring
	// the context); tests inject a no-op.
	Sleep func(ctx context.Context, d time.Duration) error
	// BackoffBase is the first WebDownload retry delay (default 1s,
	// doubled per retry).
	BackoffBase time.Duration
	// Shell overrides the interpreter for ExecuteBash (default: bash on
	// PATH, else /bin/sh).
	Shell string
}

// Registry returns every module keyed by action name.
func Registry(cfg Config) map[string]exec.Action {
	if cfg.OS == "" {
		cfg.OS = "linux"
	}
	m := &modules{cfg: cfg}
	r := map[string]exec.Action{
		"ExecuteBash":     exec.ActionFunc(m.executeBash),
		"ExecuteBinary":   exec.ActionFunc(m.executeBinary),
		"ExecuteDocument": exec.ActionFunc(executeDocument),
		"Assert":          exec.ActionFunc(assert),

		"S3Download":  m.perS3Input("S3Download", s3DownloadOne),
		"S3Upload":    m.perS3Input("S3Upload", s3UploadOne),
		"WebDownload": exec.ActionFunc(m.webDownload),

		"AppendFile":           perInput(appendFile),
		"CopyFile":             perInput(copyFile),
		"CopyFolder":           perInput(copyFolder),
		"CreateFile":           perInput(createFile),
		"CreateFolder":         perInput(createFolder),
		"CreateSymlink":        perInput(createSymlink),
		"DeleteFile":           perInput(deleteFile),
		"DeleteFolder":         perInput(deleteFolder),
		"ListFiles":            exec.ActionFunc(listFiles),
		"MoveFile":             perInput(moveFile),
		"MoveFolder":           perInput(moveFolder),
		"ReadFile":             exec.ActionFunc(readFile),
		"SetFileEncoding":      perInput(setFileEncoding),
		"SetFileOwner":         perInput(setFileOwner),
		"SetFolderOwner":       perInput(setFolderOwner),
		"SetFilePermissions":   perInput(setFilePermissions),
		"SetFolderPermissions": perInput(setFolderPermissions),

		"Reboot":   exec.ActionFunc(reboot),
		"UpdateOS": exec.ActionFunc(m.updateOS),
	}
	for _, w := range []string{"ExecutePowerShell", "InstallMSI", "UninstallMSI", "SetRegistry"} {
		name := w
		r[name] = exec.ActionFunc(func(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
			return nil, fmt.Errorf("action %s is supported on Windows only; this runner is on %s", name, cfg.OS)
		})
	}
	return r
}

type modules struct {
	cfg   Config
	shell string
}

// perInput adapts a function applied to each input map in order.
func perInput(fn func(ctx context.Context, c *exec.Call, in input) error) exec.Action {
	return exec.ActionFunc(func(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
		for i, raw := range c.Inputs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := fn(ctx, c, input(raw)); err != nil {
				if len(c.Inputs) > 1 {
					return nil, fmt.Errorf("input %d: %w", i, err)
				}
				return nil, err
			}
		}
		return nil, nil
	})
}

// input is one resolved input map with typed accessors.
type input map[string]any

func (in input) str(key string) string {
	v, ok := in[key]
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func (in input) has(key string) bool {
	_, ok := in[key]
	return ok
}

func (in input) require(key string) (string, error) {
	s := in.str(key)
	if s == "" {
		return "", fmt.Errorf("input '%s' is required", key)
	}
	return s, nil
}

// require2 returns the required inputs a and b, failing on the first missing.
func (in input) require2(a, b string) (string, string, error) {
	va, err := in.require(a)
	if err != nil {
		return "", "", err
	}
	vb, err := in.require(b)
	if err != nil {
		return "", "", err
	}
	return va, vb, nil
}

// requireFlag returns the required input key and the boolean input flag
// (def when absent).
func (in input) requireFlag(key, flag string, def bool) (string, bool, error) {
	v, err := in.require(key)
	if err != nil {
		return "", false, err
	}
	b, err := in.boolean(flag, def)
	if err != nil {
		return "", false, err
	}
	return v, b, nil
}

// require2Flag returns the required inputs a and b and the boolean input
// flag (def when absent), failing on the first error in that order.
func (in input) require2Flag(a, b, flag string, def bool) (string, string, bool, error) {
	va, vb, err := in.require2(a, b)
	if err != nil {
		return "", "", false, err
	}
	f, err := in.boolean(flag, def)
	if err != nil {
		return "", "", false, err
	}
	return va, vb, f, nil
}

func (in input) boolean(key string, def bool) (bool, error) {
	v, ok := in[key]
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(x)))
		if err != nil {
			return def, fmt.Errorf("input '%s' must be true or false, got %q", key, x)
		}
		return b, nil
	}
	return def, fmt.Errorf("input '%s' must be true or false", key)
}

func (in input) integer(key string, def int) (int, error) {
	s := in.str(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return def, fmt.Errorf("input '%s' must be an integer, got %q", key, s)
	}
	return n, nil
}

// strings returns a list-of-strings input (a single string is a list of one).
func (in input) strings(key string) []string {
	v, ok := in[key]
	if !ok || v == nil {
		return nil
	}
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, input{"v": e}.str("v"))
		}
		return out
	case []string:
		return x
	}
	return []string{input{"v": v}.str("v")}
}

func assert(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
	if c.Assert == nil {
		return nil, fmt.Errorf("Assert has no expression")
	}
	ok, err := c.Assert()
	if err != nil {
		return nil, fmt.Errorf("assertion could not be evaluated: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("assertion evaluated to false")
	}
	return nil, nil
}

func executeDocument(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
	in := input(c.Inputs[0])
	ref, err := in.require("document")
	if err != nil {
		return nil, err
	}
	req := exec.NestedRequest{Document: ref, Owner: in.str("document-s3-bucket-owner"), Parameters: map[string]string{}}
	for _, p := range strings.Split(in.str("phases"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			req.Phases = append(req.Phases, p)
		}
	}
	if ps, ok := in["parameters"].([]any); ok {
		for _, p := range ps {
			pm, ok := p.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("parameters must be a list of {name, value}")
			}
			req.Parameters[input(pm).str("name")] = input(pm).str("value")
		}
	}
	res, err := c.Nested(ctx, req)
	if err != nil {
		return nil, err
	}
	c.Detail = res.Docs
	if res.Status == exec.StatusFailed {
		return exec.Outputs{res.Summary}, fmt.Errorf("document %s failed: %v", ref, res.Summary["failureMessage"])
	}
	return exec.Outputs{res.Summary}, nil
}

func reboot(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
	if c.Resumed {
		fmt.Fprintln(c.Console, "Reboot: the system has restarted; continuing with the next step.")
		return nil, nil
	}
	var in input
	if len(c.Inputs) > 0 {
		in = input(c.Inputs[0])
	}
	delay, err := in.integer("delaySeconds", 0)
	if err != nil {
		return nil, err
	}
	if delay < 0 {
		return nil, fmt.Errorf("delaySeconds must not be negative")
	}
	return nil, &exec.RebootRequest{DelaySeconds: delay, Reason: "Reboot action"}
}
