package ec2

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// consoleTail is how much console GetConsoleOutput returns: the last
// 64 KB, as EC2.
const consoleTail = 64 << 10

// GetConsoleOutput returns the tail of the instance's console (what PID 1
// and the instance's init wrote), base64-encoded as EC2 does. Latest is
// accepted; kiln's console is always current.
func (s *Service) GetConsoleOutput(ctx context.Context, in *ec2api.GetConsoleOutputRequest) (*ec2api.GetConsoleOutputResult, error) {
	deps, err := s.instances()
	if err != nil {
		return nil, err
	}
	if in.InstanceId == "" {
		return nil, missingParam("InstanceId")
	}
	sc := scopeOf(ctx)
	err = s.st.View(ctx, func(tx store.Tx) error {
		_, err := loadInstances(tx, sc, []string{in.InstanceId})
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	out := &ec2api.GetConsoleOutputResult{InstanceId: in.InstanceId, Timestamp: ptr(s.clock.Now())}
	b, mod, err := tail(deps.Controller.ConsolePath(in.InstanceId), consoleTail)
	if err != nil {
		return nil, err
	}
	if !mod.IsZero() {
		out.Timestamp = ptr(mod.UTC())
	}
	if len(b) > 0 {
		out.Output = base64.StdEncoding.EncodeToString(b)
	}
	return out, nil
}

// tail reads the last n bytes of a file (nothing if it does not exist).
func tail(path string, n int64) ([]byte, time.Time, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, nil
	} else if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	if _, err := io.ReadFull(io.NewSectionReader(f, off, int64(len(b))), b); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, time.Time{}, err
	}
	return b, st.ModTime(), nil
}
