package imds

import (
	"net/http/httptest"
	"testing"
)

func BenchmarkHandlerInstanceID(b *testing.B) {
	e := newEnv(b, nil)
	r := httptest.NewRequest("GET", "/latest/meta-data/instance-id", nil)
	r.RemoteAddr = callerIP + ":1"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
	}
}
