package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Options is the merged configuration of one `run` invocation.
type Options struct {
	Documents      []DocSpec
	Phases         []string
	Parameters     map[string]string // --parameters / config-level, for every document
	ExecutionID    string
	LogDirectory   string
	StateDirectory string
	Trace          bool
	LogS3Bucket    string
	LogS3KeyPrefix string
	LogS3Owner     string
	CWLogGroup     string
	CWLogStream    string
	CWLogRegion    string
	CWIgnore       bool
	DocS3Owner     string
	S3Endpoint     string
	Region         string
	RebootMode     string
	MaxReboots     int
	OS             string
}

// DocSpec is one document reference with its own parameters.
type DocSpec struct {
	Path       string
	Parameters map[string]string
}

// configFile is the JSON --config format.
type configFile struct {
	Documents []struct {
		Path       string      `json:"path"`
		Parameters []nameValue `json:"parameters"`
	} `json:"documents"`
	Phases                string      `json:"phases"`
	Parameters            []nameValue `json:"parameters"`
	ExecutionID           string      `json:"executionId"`
	LogDirectory          string      `json:"logDirectory"`
	LogS3BucketName       string      `json:"logS3BucketName"`
	LogS3KeyPrefix        string      `json:"logS3KeyPrefix"`
	LogS3BucketOwner      string      `json:"logS3BucketOwner"`
	CWLogGroup            string      `json:"cwLogGroup"`
	CWLogStream           string      `json:"cwLogStream"`
	CWLogRegion           string      `json:"cwLogRegion"`
	CWIgnoreFailures      bool        `json:"cwIgnoreFailures"`
	DocumentS3BucketOwner string      `json:"documentS3BucketOwner"`
	StateDirectory        string      `json:"stateDirectory"`
	Trace                 bool        `json:"trace"`
}

type nameValue struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

func (nv nameValue) value() string {
	switch v := nv.Value.(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			return fmt.Sprint(v[0])
		}
		return ""
	case nil:
		return ""
	}
	return fmt.Sprint(nv.Value)
}

// stringFlag registers one variable under a long and a short name.
func stringFlag(fs *flag.FlagSet, p *string, long, short, usage string) {
	fs.StringVar(p, long, "", usage)
	if short != "" {
		fs.StringVar(p, short, "", "shorthand for --"+long)
	}
}

func boolFlag(fs *flag.FlagSet, p *bool, long, short, usage string) {
	fs.BoolVar(p, long, false, usage)
	if short != "" {
		fs.BoolVar(p, short, false, "shorthand for --"+long)
	}
}

// parseRunFlags parses `run` flags and merges the config file (CLI flags
// win; documents/parameters may not come from both).
func parseRunFlags(args []string, stderr io.Writer, readFile func(string) ([]byte, error)) (*Options, error) {
	fs := flag.NewFlagSet("kiln toe run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var docs, cfgPath, phases, params, rebootMode string
	o := &Options{}
	stringFlag(fs, &docs, "documents", "d", "comma-separated documents: paths, s3:// URIs or component ARNs")
	stringFlag(fs, &cfgPath, "config", "c", "JSON run configuration file (path or s3:// URI)")
	stringFlag(fs, &phases, "phases", "p", "comma-separated phases to run (default: all)")
	fs.StringVar(&params, "parameters", "", "runtime parameters k=v,k2=v2")
	stringFlag(fs, &o.ExecutionID, "execution-id", "i", "execution ID (default: a generated UUID)")
	stringFlag(fs, &o.LogDirectory, "log-directory", "l", "parent directory of the run's log folder (default .)")
	stringFlag(fs, &o.StateDirectory, "state-directory", "s", "directory for reboot/resume state (default <log-directory>/.kiln-toe-state)")
	boolFlag(fs, &o.Trace, "trace", "t", "verbose console logging (stream command output)")
	stringFlag(fs, &o.LogS3Bucket, "log-s3-bucket-name", "b", "upload the run folder to this S3 bucket")
	stringFlag(fs, &o.LogS3KeyPrefix, "log-s3-key-prefix", "k", "key prefix for uploaded logs")
	fs.StringVar(&o.LogS3Owner, "log-s3-bucket-owner", "", "expected owner of the log bucket")
	fs.StringVar(&o.CWLogGroup, "cw-log-group", "", "CloudWatch Logs group (not available yet)")
	fs.StringVar(&o.CWLogStream, "cw-log-stream", "", "CloudWatch Logs stream (not available yet)")
	fs.StringVar(&o.CWLogRegion, "cw-log-region", "", "CloudWatch Logs region (not available yet)")
	fs.BoolVar(&o.CWIgnore, "cw-ignore-failures", false, "continue when CloudWatch Logs streaming fails")
	fs.StringVar(&o.DocS3Owner, "document-s3-bucket-owner", "", "expected owner of S3 documents")
	fs.StringVar(&o.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS)")
	fs.StringVar(&o.Region, "region", "", "AWS region for S3 (default: AWS configuration, else us-east-1)")
	fs.StringVar(&rebootMode, "reboot-mode", "", "exit (hand exit code 194 to the caller) or standalone (boot trigger + reboot); default from KILN_TOE_REBOOT_MODE")
	fs.IntVar(&o.MaxReboots, "max-reboots", 10, "maximum reboots in one execution")
	fs.StringVar(&o.OS, "os", "linux", "platform documents are validated for")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if (docs == "") == (cfgPath == "") {
		return nil, fmt.Errorf("exactly one of --documents or --config is required")
	}
	o.Phases = splitList(phases)
	o.RebootMode = rebootMode
	cliParams, err := parseParams(params)
	if err != nil {
		return nil, err
	}
	for _, d := range splitList(docs) {
		o.Documents = append(o.Documents, DocSpec{Path: d})
	}
	if cfgPath != "" {
		b, err := readFile(cfgPath)
		if err != nil {
			return nil, fmt.Errorf("reading config %s: %w", cfgPath, err)
		}
		var cf configFile
		if err := json.Unmarshal(b, &cf); err != nil {
			return nil, fmt.Errorf("parsing config %s: %w", cfgPath, err)
		}
		if len(cf.Documents) == 0 {
			return nil, fmt.Errorf("config %s has no documents", cfgPath)
		}
		if params != "" && len(cf.Parameters) > 0 {
			return nil, fmt.Errorf("parameters given both on the command line and in the config file")
		}
		for _, d := range cf.Documents {
			ds := DocSpec{Path: d.Path, Parameters: map[string]string{}}
			for _, p := range d.Parameters {
				ds.Parameters[p.Name] = p.value()
			}
			o.Documents = append(o.Documents, ds)
		}
		if len(cf.Parameters) > 0 {
			cliParams = map[string]string{}
			for _, p := range cf.Parameters {
				cliParams[p.Name] = p.value()
			}
		}
		def := func(p *string, v string) {
			if *p == "" {
				*p = v
			}
		}
		if o.Phases == nil {
			o.Phases = splitList(cf.Phases)
		}
		def(&o.ExecutionID, cf.ExecutionID)
		def(&o.LogDirectory, cf.LogDirectory)
		def(&o.StateDirectory, cf.StateDirectory)
		def(&o.LogS3Bucket, cf.LogS3BucketName)
		def(&o.LogS3KeyPrefix, cf.LogS3KeyPrefix)
		def(&o.LogS3Owner, cf.LogS3BucketOwner)
		def(&o.CWLogGroup, cf.CWLogGroup)
		def(&o.CWLogStream, cf.CWLogStream)
		def(&o.CWLogRegion, cf.CWLogRegion)
		def(&o.DocS3Owner, cf.DocumentS3BucketOwner)
		o.CWIgnore = o.CWIgnore || cf.CWIgnoreFailures
		o.Trace = o.Trace || cf.Trace
	}
	o.Parameters = cliParams
	if o.LogDirectory == "" {
		o.LogDirectory = "."
	}
	if o.StateDirectory == "" {
		o.StateDirectory = o.LogDirectory + string(os.PathSeparator) + ".kiln-toe-state"
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseParams parses k=v,k2=v2 (a value may not contain a comma).
func parseParams(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--parameters: %q is not name=value", kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}
