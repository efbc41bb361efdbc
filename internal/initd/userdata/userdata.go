// Package userdata classifies EC2 user data the way cloud-init does: gzip
// compressed or not, a MIME multi-part archive or a single document, and
// each part a shebang script, a #cloud-config document, a boothook or
// something kiln does not support (reported, never run). It is a pure core:
// bytes in, a plan out; kiln's init executes the plan.
package userdata

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// Kind is what a part is.
type Kind int

// Kinds of parts.
const (
	Unsupported Kind = iota // recognised or unknown, not run (see Part.Reason)
	Script                  // executed as a file (its shebang decides the interpreter)
	CloudConfig             // #cloud-config YAML
	Boothook                // #cloud-boothook: run early on every boot
)

func (k Kind) String() string {
	switch k {
	case Script:
		return "script"
	case CloudConfig:
		return "cloud-config"
	case Boothook:
		return "boothook"
	}
	return "unsupported"
}

// Frequency is how often a script part runs.
type Frequency int

// Frequencies (cloud-init's per-instance, per-boot, per-once).
const (
	PerInstance Frequency = iota
	PerBoot
	PerOnce
)

// Part is one piece of user data.
type Part struct {
	Kind        Kind
	ContentType string // as given or as sniffed (text/x-shellscript, …)
	Filename    string // from the MIME headers; may be empty
	Frequency   Frequency
	Content     []byte // decoded; for boothooks without the #cloud-boothook line
	Reason      string // for Unsupported: why
}

// UserData is parsed user data: its parts in order and the merged
// cloud-config of every cloud-config part.
type UserData struct {
	Parts       []Part
	CloudConfig *Config // nil when no cloud-config part
	Warnings    []string
}

// Limits.
const (
	maxDecompressed = 16 << 20 // gzip bombs stop here
	maxDepth        = 5        // nested multipart
	maxParts        = 256
)

// Parse classifies raw user data (as the metadata service returns it). It
// never fails: what it cannot use becomes an Unsupported part or a warning.
func Parse(data []byte) *UserData {
	ud := &UserData{}
	var ccs [][]byte
	ud.walk(data, "", "", 0, &ccs)
	if len(ccs) > 0 {
		cfg, warns := ParseCloudConfig(ccs...)
		ud.CloudConfig = cfg
		ud.Warnings = append(ud.Warnings, warns...)
	}
	return ud
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("decompressed user data exceeds %d bytes", maxDecompressed)
	}
	return out, nil
}

// walk handles one document (whole user data or one MIME part) whose
// declared content type is ctype ("" when it has none).
func (ud *UserData) walk(data []byte, ctype, filename string, depth int, ccs *[][]byte) {
	if len(ud.Parts) >= maxParts {
		if len(ud.Parts) == maxParts {
			ud.Warnings = append(ud.Warnings, fmt.Sprintf("more than %d parts; the rest is ignored", maxParts))
			ud.Parts = append(ud.Parts, Part{Kind: Unsupported, Reason: "too many parts"})
		}
		return
	}
	if isGzip(data) || ctype == "application/x-gzip" || ctype == "application/gzip" {
		out, err := gunzip(data)
		if err != nil {
			ud.Warnings = append(ud.Warnings, "gzip: "+err.Error())
			ud.Parts = append(ud.Parts, Part{Kind: Unsupported, ContentType: ctype, Filename: filename, Reason: "bad gzip data: " + err.Error()})
			return
		}
		data = out
		if ctype == "application/x-gzip" || ctype == "application/gzip" {
			ctype = ""
		}
	}
	if depth == 0 && looksLikeMIME(data) {
		if ud.mime(data, depth, ccs) {
			return
		}
	}
	switch ctype {
	case "", "text/plain", "text/x-not-multipart", "application/octet-stream":
		ctype = sniff(data)
	}
	p := Part{ContentType: ctype, Filename: filename, Content: data}
	switch ctype {
	case "text/x-shellscript", "text/x-shellscript-per-instance":
		p.Kind = Script
	case "text/x-shellscript-per-boot":
		p.Kind, p.Frequency = Script, PerBoot
	case "text/x-shellscript-per-once":
		p.Kind, p.Frequency = Script, PerOnce
	case "text/cloud-config":
		p.Kind = CloudConfig
		*ccs = append(*ccs, data)
	case "text/cloud-boothook":
		p.Kind, p.Frequency = Boothook, PerBoot
		p.Content = stripFirstLineIf(data, "#cloud-boothook")
	case "multipart/mixed", "multipart/alternative":
		if depth < maxDepth && ud.mime(data, depth, ccs) {
			return
		}
		p.Reason = "unreadable multipart"
	case "text/x-include-url", "text/x-include-once-url":
		p.Reason = "#include (fetching URLs) is not supported"
	case "text/cloud-config-archive":
		p.Reason = "#cloud-config-archive is not supported"
	case "text/part-handler":
		p.Reason = "part handlers are not supported"
	case "text/upstart-job":
		p.Reason = "upstart jobs are not supported"
	case "text/jinja2":
		p.Reason = "jinja templates are not supported"
	case "text/x-unknown":
		if len(bytes.TrimSpace(data)) == 0 {
			return // empty user data
		}
		p.Reason = "not a script (#!), #cloud-config, #cloud-boothook or MIME multi-part"
	default:
		p.Reason = "unsupported content type " + ctype
	}
	ud.Parts = append(ud.Parts, p)
}

// sniff maps a document's first line to a content type, as cloud-init does.
func sniff(b []byte) string {
	s := b
	if i := bytes.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	line := strings.TrimRight(string(s), "\r \t")
	switch {
	case strings.HasPrefix(line, "#!"):
		return "text/x-shellscript"
	case strings.HasPrefix(line, "#cloud-config-archive"):
		return "text/cloud-config-archive"
	case strings.HasPrefix(line, "#cloud-config"):
		return "text/cloud-config"
	case strings.HasPrefix(line, "#cloud-boothook"):
		return "text/cloud-boothook"
	case strings.HasPrefix(line, "#include-once"):
		return "text/x-include-once-url"
	case strings.HasPrefix(line, "#include"):
		return "text/x-include-url"
	case strings.HasPrefix(line, "#part-handler"):
		return "text/part-handler"
	case strings.HasPrefix(line, "#upstart-job"):
		return "text/upstart-job"
	case strings.HasPrefix(line, "## template: jinja"):
		return "text/jinja2"
	}
	return "text/x-unknown"
}

func stripFirstLineIf(b []byte, prefix string) []byte {
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return b
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return nil
}

// looksLikeMIME: the document starts with a MIME header (Content-Type or
// MIME-Version), as cloud-init's email parsing would accept.
func looksLikeMIME(b []byte) bool {
	head := strings.ToLower(string(b[:min(len(b), 64)]))
	return strings.HasPrefix(head, "content-type:") || strings.HasPrefix(head, "mime-version:")
}

// mime parses a MIME message (headers + body); false if it is not one.
func (ud *UserData) mime(data []byte, depth int, ccs *[][]byte) bool {
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(msg.Body, maxDecompressed))
	if err != nil {
		return false
	}
	return ud.entity(textproto.MIMEHeader(msg.Header), body, depth, ccs)
}

// entity handles one MIME entity with its headers.
func (ud *UserData) entity(h textproto.MIMEHeader, body []byte, depth int, ccs *[][]byte) bool {
	ct := h.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" {
		mt, params, err = "text/plain", map[string]string{}, nil
	}
	if err != nil {
		ud.Warnings = append(ud.Warnings, fmt.Sprintf("bad Content-Type %q: %v", ct, err))
		return false
	}
	mt = strings.ToLower(mt)
	if strings.HasPrefix(mt, "multipart/") {
		if depth >= maxDepth {
			ud.Warnings = append(ud.Warnings, "multipart nested too deep")
			return true
		}
		b := params["boundary"]
		if b == "" {
			ud.Warnings = append(ud.Warnings, "multipart without boundary")
			return false
		}
		mr := multipart.NewReader(bytes.NewReader(body), b)
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				ud.Warnings = append(ud.Warnings, "multipart: "+err.Error())
				break
			}
			pb, err := io.ReadAll(io.LimitReader(p, maxDecompressed))
			if err != nil {
				ud.Warnings = append(ud.Warnings, "multipart part: "+err.Error())
				break
			}
			ud.entity(p.Header, pb, depth+1, ccs)
			if len(ud.Parts) > maxParts {
				break
			}
		}
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		clean := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, string(body))
		dec, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
		}
		if err != nil {
			ud.Warnings = append(ud.Warnings, "base64 part: "+err.Error())
			ud.Parts = append(ud.Parts, Part{Kind: Unsupported, ContentType: mt, Reason: "bad base64"})
			return true
		}
		body = dec
	case "quoted-printable":
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err == nil {
			body = dec
		}
	}
	name := params["name"]
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
		name = dp["filename"]
	}
	ud.walk(body, mt, name, depth+1, ccs)
	return true
}
