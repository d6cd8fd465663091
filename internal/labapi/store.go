// Package labapi serves the part of the Equinix Metal v1 API that
// provisioning needs, over the lab's real hosts, so the unmodified
// equinix-sdk-go client (and runbook's metal module) work against it with
// only the base URL changed.
package labapi

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// device is what the API remembers of a device; its addresses and power
// state come from the lab host behind it.
type device struct {
	ID        string    `json:"id"`
	Hostname  string    `json:"hostname"`
	Plan      string    `json:"plan"`
	Metro     string    `json:"metro"`
	OS        string    `json:"os"`
	Tags      []string  `json:"tags"`
	Userdata  string    `json:"userdata,omitempty"`
	State     string    `json:"state"` // queued, provisioning, active, inactive, failed
	Error     string    `json:"error,omitempty"`
	Keys      []string  `json:"keys"` // ids of the SSH keys it was given
	Locked    bool      `json:"locked,omitempty"`
	Desc      string    `json:"description,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type sshKey struct {
	ID        string    `json:"id"`
	Label     string    `json:"label"`
	Key       string    `json:"key"`
	User      bool      `json:"user,omitempty"` // the user's own key, else the project's
	Tags      []string  `json:"tags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// state is the API's whole persistent state, saved on every change so that
// it survives a restart of the API process.
type state struct {
	Project      string             `json:"project"`
	Organization string             `json:"organization"` // the project's
	User         string             `json:"user"`         // the token's owner, who owns user keys
	CreatedAt    time.Time          `json:"created_at"`   // of the project, organization and user
	Token        string             `json:"token"`
	Devices      map[string]*device `json:"devices"`
	Keys         map[string]*sshKey `json:"ssh_keys"`
}

type store struct {
	mu   sync.Mutex
	path string
	s    state
}

// openStore loads the state, or makes a new project and token.
func openStore(dir string) (*store, error) {
	st := &store{path: filepath.Join(dir, "api.json")}
	data, err := os.ReadFile(st.path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &st.s); err != nil {
			return nil, fmt.Errorf("read %s: %w", st.path, err)
		}
		// A state saved before the API had users and organizations gets them.
		if st.s.User == "" || st.s.Organization == "" || st.s.CreatedAt.IsZero() {
			st.s.User = cmp.Or(st.s.User, uuid())
			st.s.Organization = cmp.Or(st.s.Organization, uuid())
			st.s.CreatedAt = cmp.Or(st.s.CreatedAt, now())
			if err := st.saveLocked(); err != nil {
				return nil, err
			}
		}
	case os.IsNotExist(err):
		st.s = state{Project: uuid(), Organization: uuid(), User: uuid(), CreatedAt: now(), Token: token(), Devices: map[string]*device{}, Keys: map[string]*sshKey{}}
		if err := st.saveLocked(); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	return st, nil
}

// update runs fn on the state under the lock and saves it.
func (st *store) update(fn func(*state) error) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := fn(&st.s); err != nil {
		return err
	}
	return st.saveLocked()
}

// view runs fn on the state under the lock.
func (st *store) view(fn func(*state)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	fn(&st.s)
}

func (st *store) saveLocked() error {
	data, err := json.MarshalIndent(st.s, "", "  ")
	if err != nil {
		return err
	}
	tmp := st.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, st.path)
}

func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func token() string {
	var b [24]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// State is what `runbook lab` shows of the API's state.
type State struct {
	Project string
	Token   string
	Devices []struct{ Hostname, State string }
}

// ReadState reads the API's saved state from the lab's state directory.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, "api.json"))
	if err != nil {
		return nil, fmt.Errorf("read the lab API's state: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read the lab API's state: %w", err)
	}
	out := &State{Project: s.Project, Token: s.Token}
	for _, d := range s.Devices {
		out.Devices = append(out.Devices, struct{ Hostname, State string }{d.Hostname, d.State})
	}
	return out, nil
}
