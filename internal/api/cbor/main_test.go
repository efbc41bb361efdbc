package cbor

import (
	"os"
	"testing"
)

// TestMain re-indexes the generated service: the generated model calls
// Service.Init() during package variable initialisation, before the init()
// that fills in the structure members, so Shape.MemberByName finds nothing
// and shape.ToGo drops every member. (Bug in internal/awsgen's emitter,
// reported; the codecs themselves do not use MemberByName.)
func TestMain(m *testing.M) {
	cw.Init()
	os.Exit(m.Run())
}
