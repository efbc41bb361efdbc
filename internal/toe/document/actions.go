package document

import "regexp"

// ActionSpec describes an action module for validation.
type ActionSpec struct {
	// Platforms lists where the module runs: l = Linux, w = Windows, m = macOS.
	Platforms string
	// NeedsInputs: the step must have `inputs`.
	NeedsInputs bool
	// Single: the module takes one input map (a one-element list is
	// accepted too); otherwise it takes a list of input maps.
	Single bool
	// Required keys in every input map.
	Required []string
}

// Actions is the catalogue of every AWSTOE action module.
var Actions = map[string]ActionSpec{
	"ExecuteBash":       {Platforms: "lm", NeedsInputs: true, Single: true, Required: []string{"commands"}},
	"ExecutePowerShell": {Platforms: "w", NeedsInputs: true, Single: true},
	"ExecuteBinary":     {Platforms: "lwm", NeedsInputs: true, Single: true, Required: []string{"path"}},
	"ExecuteDocument":   {Platforms: "lwm", NeedsInputs: true, Single: true, Required: []string{"document"}},
	"Assert":            {Platforms: "lwm", NeedsInputs: true, Single: true},

	"S3Download":  {Platforms: "lwm", NeedsInputs: true, Required: []string{"source", "destination"}},
	"S3Upload":    {Platforms: "lwm", NeedsInputs: true, Required: []string{"source", "destination"}},
	"WebDownload": {Platforms: "lwm", NeedsInputs: true, Required: []string{"source", "destination"}},

	"AppendFile":           {Platforms: "lwm", NeedsInputs: true, Required: []string{"path"}},
	"CopyFile":             {Platforms: "lwm", NeedsInputs: true, Required: []string{"source", "destination"}},
	"CopyFolder":           {Platforms: "lwm", NeedsInputs: true, Required: []string{"source", "destination"}},
	"CreateFile":           {Platforms: "lwm", NeedsInputs: true, Required: []string{"path"}},
	"CreateFolder":         {Platforms: "lwm", NeedsInputs: true, Required: []string{"path"}},
	"CreateSymlink":        {Platforms: "lm", NeedsInputs: true, Required: []string{"path", "target"}},
	"DeleteFile":           {Platforms: "lwm", NeedsInputs: true, Required: []string{"path"}},
	"DeleteFolder":         {Platforms: "lwm", NeedsInputs: true, Required: []string{"path"}},
	"ListFiles":            {Platforms: "lwm", NeedsInputs: true, Required: []string{"path"}},
	"MoveFile":             {Platforms: "lwm", NeedsInputs: true, Required: []string{"source", "destination"}},
	"MoveFolder":           {Platforms: "lwm", NeedsInputs: true, Required: []string{"source", "destination"}},
	"ReadFile":             {Platforms: "lwm", NeedsInputs: true, Required: []string{"path"}},
	"SetFileEncoding":      {Platforms: "lwm", NeedsInputs: true, Required: []string{"path", "encoding"}},
	"SetFileOwner":         {Platforms: "lm", NeedsInputs: true, Required: []string{"path", "owner"}},
	"SetFolderOwner":       {Platforms: "lm", NeedsInputs: true, Required: []string{"path", "owner"}},
	"SetFilePermissions":   {Platforms: "lm", NeedsInputs: true, Required: []string{"path", "permissions"}},
	"SetFolderPermissions": {Platforms: "lm", NeedsInputs: true, Required: []string{"path", "permissions"}},

	"InstallMSI":   {Platforms: "w", NeedsInputs: true, Single: true, Required: []string{"path"}},
	"UninstallMSI": {Platforms: "w", NeedsInputs: true, Single: true, Required: []string{"path"}},

	"Reboot":      {Platforms: "lwm", Single: true},
	"SetRegistry": {Platforms: "w", NeedsInputs: true, Required: []string{"path", "name"}},
	"UpdateOS":    {Platforms: "lw", Single: true},
}

// Encodings accepted by the file-system modules (compared case-insensitively).
var Encodings = []string{"utf8", "utf-8", "utf16", "utf-16", "utf16-le", "utf-16-le", "utf16-be",
	"utf-16-be", "utf32", "utf-32", "utf32-le", "utf-32-le", "utf32-be", "utf-32-be"}

// PlatformLetter maps an OS name to the letter used in ActionSpec.Platforms.
func PlatformLetter(os string) string {
	switch os {
	case "windows":
		return "w"
	case "macos", "darwin":
		return "m"
	}
	return "l"
}

var (
	varNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{3,128}$`)
	compileRE = regexp.Compile
)
