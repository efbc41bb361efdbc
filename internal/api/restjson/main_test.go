package restjson

import (
	"os"
	"testing"

	"github.com/kiln-dev/kiln/internal/awsgen/imagebuilderapi"
	"github.com/kiln-dev/kiln/internal/awsgen/schedulerapi"
)

var (
	sched = schedulerapi.Service
	ib    = imagebuilderapi.Service
)

// TestMain re-indexes the generated services: the generated model calls
// Service.Init() during package variable initialisation, before the init()
// that fills in the structure members, so Shape.MemberByName finds nothing
// and shape.ToGo drops every member (bug in internal/awsgen's emitter; the
// codecs do not use MemberByName).
func TestMain(m *testing.M) {
	sched.Init()
	ib.Init()
	os.Exit(m.Run())
}
