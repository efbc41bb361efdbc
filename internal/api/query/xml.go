package query

import (
	"bytes"
	"encoding/xml"
	"sort"

	"github.com/kiln-dev/kiln/internal/shape"
)

// xmlWriter renders Values as the XML both protocols answer with.
type xmlWriter struct {
	b   bytes.Buffer
	ec2 bool
}

func (x *xmlWriter) open(name string) { x.b.WriteByte('<'); x.b.WriteString(name); x.b.WriteByte('>') }
func (x *xmlWriter) close(name string) {
	x.b.WriteString("</")
	x.b.WriteString(name)
	x.b.WriteByte('>')
}

func (x *xmlWriter) text(s string) { _ = xml.EscapeText(&x.b, []byte(s)) }

func (x *xmlWriter) element(name, text string) {
	x.open(name)
	x.text(text)
	x.close(name)
}

// members writes a structure's members in model order.
func (x *xmlWriter) members(sh *shape.Shape, v map[string]any) {
	for _, m := range sh.Members {
		mv, ok := v[m.Name]
		if !ok || mv == nil {
			continue
		}
		x.value(m.Shape, m, m.SerializedName(), mv)
	}
}

func (x *xmlWriter) value(sh *shape.Shape, m *shape.Member, name string, v shape.Value) {
	switch sh.Kind {
	case shape.Structure:
		x.open(name)
		if mv, ok := v.(map[string]any); ok {
			x.members(sh, mv)
		}
		x.close(name)
	case shape.List:
		l, _ := v.([]any)
		item := sh.Member.LocationName
		if item == "" {
			item = "member"
			if x.ec2 {
				item = "item"
			}
		}
		if sh.Flattened || (m != nil && m.Flattened) {
			for _, e := range l {
				x.value(sh.Member.Shape, sh.Member, name, e)
			}
			return
		}
		x.open(name)
		for _, e := range l {
			x.value(sh.Member.Shape, sh.Member, item, e)
		}
		x.close(name)
	case shape.Map:
		mv, _ := v.(map[string]any)
		keys := make([]string, 0, len(mv))
		for k := range mv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		kn, vn := "key", "value"
		if sh.Key.LocationName != "" {
			kn = sh.Key.LocationName
		}
		if sh.Value.LocationName != "" {
			vn = sh.Value.LocationName
		}
		flat := sh.Flattened || (m != nil && m.Flattened)
		if !flat {
			x.open(name)
		}
		for _, k := range keys {
			entry := "entry"
			if flat {
				entry = name
			}
			x.open(entry)
			x.element(kn, k)
			x.value(sh.Value.Shape, sh.Value, vn, mv[k])
			x.close(entry)
		}
		if !flat {
			x.close(name)
		}
	default:
		format := sh.TimestampFormat
		if m != nil && m.TimestampFormat != "" {
			format = m.TimestampFormat
		}
		x.element(name, shape.FormatScalar(v, format))
	}
}
