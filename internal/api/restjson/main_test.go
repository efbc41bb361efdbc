package restjson

import (
	"testing"

	"github.com/kiln-dev/kiln/internal/api/codectest"
	"github.com/kiln-dev/kiln/internal/awsgen/imagebuilderapi"
	"github.com/kiln-dev/kiln/internal/awsgen/schedulerapi"
)

var (
	sched = schedulerapi.Service
	ib    = imagebuilderapi.Service
)

// TestMain re-indexes the generated services (see codectest.Main).
func TestMain(m *testing.M) {
	codectest.Main(m, sched, ib)
}
