package cbor

import (
	"testing"

	"github.com/kiln-dev/kiln/internal/api/codectest"
)

// TestMain re-indexes the generated services (see codectest.Main).
func TestMain(m *testing.M) {
	codectest.Main(m, cw)
}
