package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kiln-dev/kiln/internal/toe/action"
	"github.com/kiln-dev/kiln/internal/toe/document"
	"github.com/kiln-dev/kiln/internal/toe/exec"
)

// fingerprint identifies an invocation for resume: documents, phases and
// parameters (not the execution ID, which may be generated).
func fingerprint(docs []exec.DocInput, phases []string) string {
	h := sha256.New()
	for _, d := range docs {
		h.Write(d.Doc.Raw)
		h.Write([]byte{0})
		keys := make([]string, 0, len(d.Params))
		for k := range d.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%s=%s\x00", k, d.Params[k])
		}
	}
	fmt.Fprintf(h, "phases=%s", strings.Join(phases, ","))
	return hex.EncodeToString(h.Sum(nil))
}

func (e *Env) argv() []string {
	if e.Argv != nil {
		return e.Argv
	}
	argv := append([]string(nil), os.Args...)
	if exe, err := os.Executable(); err == nil {
		argv[0] = exe
	}
	return argv
}

func (e *Env) run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	l := &loader{os: "linux"}
	opts, err := parseRunFlags(args, stderr, func(p string) ([]byte, error) {
		b, _, err := l.read(ctx, p, "")
		return b, err
	})
	if err != nil {
		if err.Error() != "flag: help requested" {
			fmt.Fprintf(stderr, "kiln toe run: %v\n", err)
		}
		return 2
	}
	l.os, l.owner = opts.OS, opts.DocS3Owner
	l.s3 = s3Factory(opts.S3Endpoint, opts.Region)
	mode, err := rebootMode(opts.RebootMode)
	if err != nil {
		fmt.Fprintf(stderr, "kiln toe run: %v\n", err)
		return 2
	}
	if opts.CWLogGroup != "" {
		msg := "CloudWatch Logs streaming (--cw-log-group) is not available: kiln has no CloudWatch Logs service yet"
		if !opts.CWIgnore {
			fmt.Fprintf(stderr, "kiln toe run: %s (add --cw-ignore-failures to run without it)\n", msg)
			return 2
		}
		fmt.Fprintf(stderr, "warning: %s; continuing (--cw-ignore-failures)\n", msg)
	}

	// Load and validate every document before running anything.
	var plan exec.Plan
	plan.Phases = opts.Phases
	bad := false
	for _, ds := range opts.Documents {
		d, key, err := l.load(ctx, ds.Path, "")
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			bad = true
			continue
		}
		params := map[string]string{}
		for k, v := range opts.Parameters {
			if _, ok := d.Variable(k); ok && !d.IsConstant(k) {
				params[k] = v
			}
		}
		for k, v := range ds.Parameters {
			params[k] = v
		}
		plan.Docs = append(plan.Docs, exec.DocInput{Doc: d, Params: params, Key: key})
	}
	if bad {
		return 1
	}
	fp := fingerprint(plan.Docs, plan.Phases)

	// Resume a paused execution of the same invocation.
	trigger := &bootTrigger{Root: e.Root, RebootCmd: e.RebootCmd}
	if trigger.Root == "" {
		trigger.Root = "/"
	}
	var resume *exec.State
	saved, err := exec.LoadState(opts.StateDirectory)
	if err != nil {
		fmt.Fprintf(stderr, "warning: ignoring unreadable state: %v\n", err)
	}
	if saved != nil {
		if saved.Fingerprint == fp {
			resume = saved.State
			if err := trigger.Remove(); err != nil {
				fmt.Fprintf(stderr, "warning: removing boot trigger: %v\n", err)
			}
		} else {
			fmt.Fprintf(stderr, "warning: state in %s belongs to a different invocation; starting a new execution\n", opts.StateDirectory)
			_ = exec.ClearState(opts.StateDirectory)
		}
	}
	plan.ExecutionID = opts.ExecutionID
	if resume != nil {
		plan.ExecutionID = resume.ExecutionID
	}
	if plan.ExecutionID == "" {
		plan.ExecutionID = newUUID()
	}
	runDir := filepath.Join(opts.LogDirectory, RunFolderName(e.Clock.Now(), plan.ExecutionID))
	if resume != nil && resume.Extra["runFolder"] != "" {
		runDir = resume.Extra["runFolder"]
	}
	logs, err := openRunLogs(runDir, e.Clock)
	if err != nil {
		fmt.Fprintf(stderr, "kiln toe run: %v\n", err)
		return 1
	}
	defer logs.close()
	if resume == nil {
		for i, d := range plan.Docs {
			name := "document.yaml"
			if len(plan.Docs) > 1 {
				name = fmt.Sprintf("document-%d.yaml", i+1)
			}
			_ = os.WriteFile(filepath.Join(runDir, name), d.Doc.Raw, 0o644)
		}
		logs.logf("execution %s: start (%d document(s), phases %q)", plan.ExecutionID, len(plan.Docs), strings.Join(plan.Phases, ","))
	} else {
		logs.logf("execution %s: resuming after reboot %d at document %d phase %s step %d",
			plan.ExecutionID, resume.Reboots, resume.Cursor.Doc, resume.Cursor.Phase, resume.Cursor.Step)
		fmt.Fprintf(stdout, "Resuming execution %s after reboot\n", plan.ExecutionID)
	}
	fmt.Fprintf(stdout, "Execution %s; logs in %s\n", plan.ExecutionID, runDir)

	var chainMu sync.Mutex
	var chains []exec.ChainRecord
	if resume != nil {
		chains = loadChains(filepath.Join(runDir, ChainingFile))
	}
	var console io.Writer = logs.console
	if opts.Trace {
		console = io.MultiWriter(logs.console, stdout)
	}
	prog := newProgress(stdout, isTerminal(stdout), e.Clock, logs)
	runner := &exec.Runner{
		Clock:   e.Clock,
		Actions: action.Registry(action.Config{OS: "linux", S3: l.s3}),
		Console: console,
		Logf:    logs.logf,
		Events:  prog.event,
		WorkDir: filepath.Join(runDir, "work"),
		LoadDocument: func(ctx context.Context, ref, owner string) (*document.Document, string, error) {
			return l.load(ctx, ref, owner)
		},
		Chains: func(c exec.ChainRecord) {
			chainMu.Lock()
			chains = append(chains, c)
			chainMu.Unlock()
		},
		Funcs: ssmResolver(opts),
	}
	out := runner.Run(ctx, &plan, resume)
	prog.close()
	_ = os.RemoveAll(filepath.Join(runDir, "work"))
	if chains == nil {
		chains = []exec.ChainRecord{}
	}
	if err := writeJSON(filepath.Join(runDir, ChainingFile), chains); err != nil {
		logs.logf("writing chaining.json: %v", err)
	}
	if out.Reboot != nil {
		return e.handleReboot(opts, mode, fp, runDir, out, logs, trigger, stdout, stderr)
	}
	_ = exec.ClearState(opts.StateDirectory)
	if err := writeJSON(filepath.Join(runDir, DetailedOutput), out.Result); err != nil {
		fmt.Fprintf(stderr, "kiln toe run: writing detailed output: %v\n", err)
		return 1
	}
	logs.logf("execution %s: %s %s", plan.ExecutionID, out.Result.Status, out.Result.FailureMessage)
	if opts.LogS3Bucket != "" {
		if err := uploadLogs(ctx, l, opts, runDir); err != nil {
			fmt.Fprintf(stderr, "warning: uploading logs: %v\n", err)
			logs.logf("uploading logs: %v", err)
		}
	}
	fmt.Fprintf(stdout, "Execution %s: %s\n", plan.ExecutionID, out.Result.Status)
	if out.Result.FailureMessage != "" {
		fmt.Fprintf(stdout, "  %s\n", out.Result.FailureMessage)
	}
	if out.Result.Status == exec.StatusFailed {
		return 1
	}
	return 0
}

func (e *Env) handleReboot(opts *Options, mode, fp, runDir string, out *exec.Outcome, logs *runLogs,
	trigger *bootTrigger, stdout, stderr io.Writer) int {
	st := out.Reboot
	if st.Extra == nil {
		st.Extra = map[string]string{}
	}
	st.Extra["runFolder"] = runDir
	partial := *out.Result
	partial.Status, partial.EndTime = "pendingReboot", ""
	_ = writeJSON(filepath.Join(runDir, DetailedOutput), &partial)
	if st.Reboots > opts.MaxReboots {
		msg := fmt.Sprintf("reboot limit exceeded: %d reboots (--max-reboots %d)", st.Reboots, opts.MaxReboots)
		res := *out.Result
		res.Status, res.FailureMessage, res.EndTime = exec.StatusFailed, msg, e.Clock.Now().Format(exec.TimeFormat)
		_ = writeJSON(filepath.Join(runDir, DetailedOutput), &res)
		_ = exec.ClearState(opts.StateDirectory)
		fmt.Fprintf(stdout, "Execution %s: failed\n  %s\n", st.ExecutionID, msg)
		return 1
	}
	if err := exec.SaveState(opts.StateDirectory, &exec.SavedState{Fingerprint: fp, State: st}); err != nil {
		fmt.Fprintf(stderr, "kiln toe run: %v\n", err)
		return 1
	}
	c := st.Cursor
	logs.logf("execution %s: reboot requested at document %d phase %s step %d (%s); state saved in %s",
		st.ExecutionID, c.Doc, c.Phase, c.Step, out.RebootRequest.Reason, opts.StateDirectory)
	fmt.Fprintf(stdout, "Reboot requested (%s); state saved in %s\n", out.RebootRequest.Reason, opts.StateDirectory)
	if mode == RebootExit {
		fmt.Fprintf(stdout, "Exiting with %d: reboot the machine and run the same command again to resume\n", exec.RebootExitCode)
		return exec.RebootExitCode
	}
	cwd, _ := os.Getwd()
	path, err := trigger.Register(cwd, e.argv())
	if err != nil {
		fmt.Fprintf(stderr, "kiln toe run: %v\n", err)
		return 1
	}
	logs.logf("boot trigger registered: %s", path)
	fmt.Fprintf(stdout, "Boot trigger %s registered; rebooting\n", path)
	if err := trigger.Reboot(time.Duration(out.RebootRequest.DelaySeconds) * time.Second); err != nil {
		fmt.Fprintf(stderr, "kiln toe run: %v\n", err)
		return 1
	}
	return exec.RebootExitCode
}

func uploadLogs(ctx context.Context, l *loader, opts *Options, runDir string) error {
	cl, err := l.s3(ctx)
	if err != nil {
		return err
	}
	prefix := strings.Trim(opts.LogS3KeyPrefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	prefix += filepath.Base(runDir) + "/"
	return filepath.Walk(runDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(runDir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		in := &s3.PutObjectInput{Bucket: aws.String(opts.LogS3Bucket), Key: aws.String(prefix + filepath.ToSlash(rel)), Body: f}
		if opts.LogS3Owner != "" {
			in.ExpectedBucketOwner = aws.String(opts.LogS3Owner)
		}
		_, err = cl.PutObject(ctx, in)
		return err
	})
}
