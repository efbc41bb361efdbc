package query

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

// Codec is the ec2Query (EC2 true) or awsQuery codec.
type Codec struct{ EC2 bool }

// The two codecs.
var (
	EC2   wire.Codec = Codec{EC2: true}
	Query wire.Codec = Codec{}
)

// Protocol names the model protocol.
func (c Codec) Protocol() string {
	if c.EC2 {
		return "ec2"
	}
	return "query"
}

// Values merges the URL query and the form body of a request.
func Values(req *wire.Request) (url.Values, error) {
	vals, err := url.ParseQuery(string(req.Body))
	if err != nil {
		return nil, err
	}
	for k, v := range req.HTTP.URL.Query() {
		if _, ok := vals[k]; !ok {
			vals[k] = v
		}
	}
	return vals, nil
}

// Route reads the Action parameter.
func (c Codec) Route(req *wire.Request, svc *shape.Service) (wire.Route, error) {
	vals, err := Values(req)
	if err != nil {
		return wire.Route{}, awserr.New(awserr.InvalidArgument, "MalformedQueryString", "The request body is not a valid form: %v", err)
	}
	name, err := action(vals)
	if err != nil {
		return wire.Route{}, awserr.New(awserr.InvalidArgument, "MissingAction", "The request must contain the parameter Action")
	}
	return wire.Route{Name: name, Op: svc.Operations[name]}, nil
}

// Decode walks the operation's input shape over the form.
func (c Codec) Decode(req *wire.Request, svc *shape.Service, rt wire.Route) (shape.Value, error) {
	if rt.Op.Input == nil {
		return map[string]any{}, nil
	}
	vals, err := Values(req)
	if err != nil {
		return nil, err
	}
	return newForm(vals, c.EC2).decodeStruct(rt.Op.Input, "")
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

func namespace(svc *shape.Service) string {
	if svc.Protocol == "ec2" {
		return "http://ec2.amazonaws.com/doc/" + svc.APIVersion + "/"
	}
	return svc.XMLNamespace
}

// WriteOutput writes <OpResponse>: ec2 puts requestId and the members
// directly inside; awsQuery wraps them in <OpResult> and adds
// ResponseMetadata.
func (c Codec) WriteOutput(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, out shape.Value, requestID string) {
	x := &xmlWriter{ec2: c.EC2}
	x.b.WriteString(xmlHeader)
	root := op.Name + "Response"
	x.b.WriteString("<" + root + ` xmlns="` + namespace(svc) + `">`)
	mv, _ := out.(map[string]any)
	if c.EC2 {
		x.element("requestId", requestID)
		if op.Output == nil {
			x.element("return", "true")
		} else {
			x.members(op.Output, mv)
		}
	} else {
		if op.Output != nil {
			wrapper := op.ResultWrapper
			if wrapper == "" {
				wrapper = op.Name + "Result"
			}
			x.open(wrapper)
			x.members(op.Output, mv)
			x.close(wrapper)
		}
		x.open("ResponseMetadata")
		x.element("RequestId", requestID)
		x.close("ResponseMetadata")
	}
	x.close(root)
	write(w, http.StatusOK, requestID, x.b.Bytes())
}

// WriteError writes the protocol's error document. awsQuery reports the
// exception's query error code (CloudWatch: InvalidParameterValue for
// InvalidParameterValueException).
func (c Codec) WriteError(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, e *awserr.Error, requestID string) {
	status := awserr.Status(e, svc)
	x := &xmlWriter{ec2: c.EC2}
	x.b.WriteString(xmlHeader)
	if c.EC2 {
		x.b.WriteString("<Response><Errors><Error>")
		x.element("Code", e.Code)
		x.element("Message", e.Message)
		x.b.WriteString("</Error></Errors>")
		x.element("RequestID", requestID)
		x.b.WriteString("</Response>")
	} else {
		code := e.Code
		if svc != nil {
			if sh := svc.ErrorShape(e.Code); sh != nil && sh.Error != nil && sh.Error.Code != "" {
				code = sh.Error.Code
			}
		}
		ns := ""
		if svc != nil {
			ns = ` xmlns="` + namespace(svc) + `"`
		}
		x.b.WriteString("<ErrorResponse" + ns + "><Error>")
		x.element("Type", awserr.Fault(status))
		x.element("Code", code)
		x.element("Message", e.Message)
		x.b.WriteString("</Error>")
		x.element("RequestId", requestID)
		x.b.WriteString("</ErrorResponse>")
	}
	write(w, status, requestID, x.b.Bytes())
}

func write(w http.ResponseWriter, status int, requestID string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set(wire.RequestIDHeader, requestID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
