package exec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StateFileName is the reboot/resume state file inside --state-directory.
const StateFileName = "toe-state.json"

// SavedState is the on-disk form of a paused run.
type SavedState struct {
	// Fingerprint identifies the invocation (documents, phases,
	// parameters); a state is only resumed by the same invocation.
	Fingerprint string `json:"fingerprint"`
	State       *State `json:"state"`
}

// SaveState writes the state atomically to dir.
func SaveState(dir string, s *SavedState) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	tmp := filepath.Join(dir, StateFileName+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if f, err := os.Open(tmp); err == nil {
		_ = f.Sync()
		f.Close()
	}
	if err := os.Rename(tmp, filepath.Join(dir, StateFileName)); err != nil {
		return fmt.Errorf("committing state: %w", err)
	}
	return nil
}

// LoadState reads the state from dir; it returns nil, nil when none exists.
func LoadState(dir string) (*SavedState, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	var s SavedState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding state %s: %w", filepath.Join(dir, StateFileName), err)
	}
	if s.State == nil || s.State.Result == nil {
		return nil, fmt.Errorf("state file %s is incomplete", filepath.Join(dir, StateFileName))
	}
	return &s, nil
}

// ClearState removes the state file.
func ClearState(dir string) error {
	err := os.Remove(filepath.Join(dir, StateFileName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing state: %w", err)
	}
	return nil
}
