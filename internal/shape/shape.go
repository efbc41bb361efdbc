// Package shape is the runtime form of the AWS service models: services,
// operations and shapes as the generator in internal/awsgen emits them.
//
// Codecs decode a request into a protocol-neutral value tree (see Value),
// shapes validate that tree, and conversion functions move it into and out
// of the generated Go structs that handlers receive and return. No codec and
// no handler ever sees another protocol's wire format.
package shape

import (
	"context"
	"reflect"
	"strings"
)

// Kind is a shape's type in the model.
type Kind uint8

// The shape kinds of the botocore model.
const (
	Structure Kind = iota + 1
	List
	Map
	String
	Integer
	Long
	Float
	Double
	Boolean
	Timestamp
	Blob
)

var kindNames = [...]string{"", "structure", "list", "map", "string", "integer", "long", "float", "double", "boolean", "timestamp", "blob"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Shape is one model shape.
type Shape struct {
	Name string
	Kind Kind

	// Structure: members in model order (the order of the Go struct fields).
	Members []*Member
	// List element.
	Member *Member
	// Map key and value.
	Key, Value *Member

	Enum            []string
	Min, Max        float64
	HasMin, HasMax  bool
	Pattern         string
	Flattened       bool
	LocationName    string
	TimestampFormat string
	Sensitive       bool
	Union           bool
	Payload         string // rest protocols: member sent as the whole body

	// Exception shapes.
	Exception bool
	Error     *ErrorInfo

	// GoType is the generated struct type of a structure.
	GoType reflect.Type

	byName map[string]*Member
}

// ErrorInfo is an exception's error block.
type ErrorInfo struct {
	Code        string
	HTTPStatus  int
	SenderFault bool
}

// Member is a structure member (or a list's element / map's key and value).
type Member struct {
	Name             string
	Shape            *Shape
	LocationName     string
	QueryName        string
	Location         string // "", "uri", "querystring", "header", "headers", "statusCode"
	Flattened        bool
	XMLAttribute     bool
	Required         bool
	IdempotencyToken bool
	JSONValue        bool
	Streaming        bool
	TimestampFormat  string
	Field            int // index of the Go struct field
}

// MemberByName finds a structure member by its model name.
func (s *Shape) MemberByName(name string) *Member {
	if s.byName == nil || len(s.byName) != len(s.Members) {
		return s.findSlow(name)
	}
	return s.byName[name]
}

func (s *Shape) findSlow(name string) *Member {
	for _, m := range s.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Operation is one API operation.
type Operation struct {
	Name          string
	Method        string
	RequestURI    string
	ResponseCode  int
	Input, Output *Shape // nil when the model has none, or for operations kiln does not implement
	ResultWrapper string
	Errors        []*Shape
	Implemented   bool
}

// HandlerFunc is the generic form of a typed handler: in is a pointer to the
// operation's generated input struct; the result is a pointer to its output
// struct (or nil).
type HandlerFunc func(ctx context.Context, in any) (any, error)

// Service is one AWS service model.
type Service struct {
	Name            string // kiln's short name: ec2, sts, monitoring's "cloudwatch", …
	ServiceID       string
	APIVersion      string
	Protocol        string
	Protocols       []string
	SigningName     string
	EndpointPrefix  string
	TargetPrefix    string
	JSONVersion     string
	XMLNamespace    string
	ShapeName       string // the Smithy service shape name used in rpcv2Cbor paths
	QueryCompatible bool

	Operations map[string]*Operation
	// Shapes holds the shapes kiln uses (reachable from implemented
	// operations, plus every exception shape).
	Shapes map[string]*Shape
}

// Init indexes the service's shapes. Generated code calls it once, after
// every shape's members are set.
func (s *Service) Init() *Service {
	for _, sh := range s.Shapes {
		if sh.Kind == Structure {
			sh.byName = make(map[string]*Member, len(sh.Members))
			for _, m := range sh.Members {
				sh.byName[m.Name] = m
			}
		}
	}
	return s
}

// HasProtocol reports whether the service model lists protocol p
// ("ec2", "query", "json", "rest-json", "rest-xml", "smithy-rpc-v2-cbor").
func (s *Service) HasProtocol(p string) bool {
	if s.Protocol == p {
		return true
	}
	for _, q := range s.Protocols {
		if q == p {
			return true
		}
	}
	return false
}

// ErrorShape returns the exception shape whose name or query error code is
// code, or nil.
func (s *Service) ErrorShape(code string) *Shape {
	if sh, ok := s.Shapes[code]; ok && sh.Exception {
		return sh
	}
	for _, sh := range s.Shapes {
		if sh.Exception && sh.Error != nil && sh.Error.Code == code {
			return sh
		}
	}
	return nil
}

// SerializedName is the name of a member on the wire for the XML and
// query protocols: locationName when present, else the member name.
func (m *Member) SerializedName() string {
	if m.LocationName != "" {
		return m.LocationName
	}
	return m.Name
}

// EC2Name is the request parameter name of a member in the ec2 protocol:
// queryName, else locationName with its first letter upper-cased, else the
// member name.
func (m *Member) EC2Name() string {
	if m.QueryName != "" {
		return m.QueryName
	}
	if m.LocationName != "" {
		return strings.ToUpper(m.LocationName[:1]) + m.LocationName[1:]
	}
	return m.Name
}
