package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The botocore model, as much of it as kiln uses.
type model struct {
	Metadata   metadata             `json:"metadata"`
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]*rawShape `json:"shapes"`
}

type metadata struct {
	APIVersion         string          `json:"apiVersion"`
	EndpointPrefix     string          `json:"endpointPrefix"`
	JSONVersion        string          `json:"jsonVersion"`
	Protocol           string          `json:"protocol"`
	Protocols          []string        `json:"protocols"`
	ServiceID          string          `json:"serviceId"`
	SigningName        string          `json:"signingName"`
	TargetPrefix       string          `json:"targetPrefix"`
	XMLNamespace       string          `json:"xmlNamespace"`
	AWSQueryCompatible json.RawMessage `json:"awsQueryCompatible"`
}

type operation struct {
	Name string `json:"name"`
	HTTP struct {
		Method       string `json:"method"`
		RequestURI   string `json:"requestUri"`
		ResponseCode int    `json:"responseCode"`
	} `json:"http"`
	Input  *ref  `json:"input"`
	Output *ref  `json:"output"`
	Errors []ref `json:"errors"`
}

type ref struct {
	Shape            string `json:"shape"`
	LocationName     string `json:"locationName"`
	QueryName        string `json:"queryName"`
	Location         string `json:"location"`
	Flattened        bool   `json:"flattened"`
	XMLAttribute     bool   `json:"xmlAttribute"`
	IdempotencyToken bool   `json:"idempotencyToken"`
	JSONValue        bool   `json:"jsonvalue"`
	Streaming        bool   `json:"streaming"`
	TimestampFormat  string `json:"timestampFormat"`
	ResultWrapper    string `json:"resultWrapper"`
}

type rawShape struct {
	Type            string          `json:"type"`
	Members         json.RawMessage `json:"members"`
	Required        []string        `json:"required"`
	Member          *ref            `json:"member"`
	Key             *ref            `json:"key"`
	Value           *ref            `json:"value"`
	Enum            []string        `json:"enum"`
	Min             *float64        `json:"min"`
	Max             *float64        `json:"max"`
	Pattern         string          `json:"pattern"`
	Flattened       bool            `json:"flattened"`
	LocationName    string          `json:"locationName"`
	TimestampFormat string          `json:"timestampFormat"`
	Sensitive       bool            `json:"sensitive"`
	Union           bool            `json:"union"`
	Payload         string          `json:"payload"`
	Exception       bool            `json:"exception"`
	Fault           bool            `json:"fault"`
	Error           *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
		SenderFault    bool   `json:"senderFault"`
	} `json:"error"`

	members []member // in model order
}

type member struct {
	Name string
	ref
}

// loadModel reads <dir>/<svc>/<version>/service-2.json (the newest version).
func loadModel(dir, svc string) (*model, error) {
	versions, err := filepath.Glob(filepath.Join(dir, svc, "*", "service-2.json"))
	if err != nil || len(versions) == 0 {
		return nil, fmt.Errorf("no model for %s under %s", svc, dir)
	}
	sort.Strings(versions)
	raw, err := os.ReadFile(versions[len(versions)-1])
	if err != nil {
		return nil, err
	}
	var m model
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", svc, err)
	}
	for name, s := range m.Shapes {
		if len(s.Members) == 0 {
			continue
		}
		ms, err := orderedMembers(s.Members)
		if err != nil {
			return nil, fmt.Errorf("%s shape %s: %w", svc, name, err)
		}
		s.members = ms
	}
	return &m, nil
}

// orderedMembers decodes a JSON object keeping its key order (the member
// order clients such as botocore serialize in).
func orderedMembers(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var r ref
		if err := dec.Decode(&r); err != nil {
			return nil, err
		}
		out = append(out, member{Name: t.(string), ref: r})
	}
	return out, nil
}

// config is implemented.txt: service → implemented operations, in order.
// Operations listed under "svc*:" are served by a hand-written router (a
// streaming service such as S3): they appear in the scope table but get no
// generated Handler method.
type config struct {
	services []string
	ops      map[string][]string
	hand     map[string][]string
}

func loadConfig(path string) (*config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &config{ops: map[string][]string{}, hand: map[string][]string{}}
	for i, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		svc, ops, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want 'service: Op Op …'", path, i+1)
		}
		svc = strings.TrimSpace(svc)
		if name, ok := strings.CutSuffix(svc, "*"); ok {
			c.hand[name] = append(c.hand[name], strings.Fields(ops)...)
			continue
		}
		if _, seen := c.ops[svc]; !seen {
			c.services = append(c.services, svc)
		}
		c.ops[svc] = append(c.ops[svc], strings.Fields(ops)...)
	}
	return c, nil
}
