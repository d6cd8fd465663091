package labapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"golang.org/x/crypto/ssh"
)

// The API has two kinds of SSH key: the project's (/projects/{id}/ssh-keys)
// and the user's own (/ssh-keys, what `metal ssh-key create` and
// Terraform's metal_ssh_key make). The lab's token is both the project's
// and its one user's, so a new device gets both kinds, as on Metal, where
// it gets the project's keys and its members'.

// keysForNewDevice picks the ids of the keys a device created from in
// gets: every key there is unless in says no_ssh_keys, and the new keys
// in.SshKeys brings, which become the project's.
func (st *state) keysForNewDevice(in *metalv1.DeviceCreateInMetroInput) []string {
	var ids []string
	if in.NoSshKeys == nil || !*in.NoSshKeys {
		for id := range st.Keys {
			ids = append(ids, id)
		}
	}
	for _, k := range in.SshKeys {
		if k.Key == nil {
			continue
		}
		nk := &sshKey{ID: uuid(), Key: *k.Key, CreatedAt: now()}
		if k.Label != nil {
			nk.Label = *k.Label
		}
		st.Keys[nk.ID] = nk
		ids = append(ids, nk.ID)
	}
	slices.Sort(ids)
	return ids
}

// authorized is the text of the keys with these ids that still exist, for
// the device's authorized_keys.
func (st *state) authorized(ids []string) []string {
	var out []string
	for _, id := range ids {
		if key, ok := st.Keys[id]; ok {
			out = append(out, key.Key)
		}
	}
	return out
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkProject(r); err != nil {
		return err
	}
	return s.writeKeys(w, func(k *sshKey) bool { return !k.User })
}

// listUserKeys lists the user's keys only: on Metal, too, /ssh-keys leaves
// out the keys of the user's projects.
func (s *Server) listUserKeys(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query().Get("search")
	return s.writeKeys(w, func(k *sshKey) bool {
		return k.User && (q == "" || strings.Contains(k.Label, q) || strings.Contains(k.Key, q))
	})
}

func (s *Server) writeKeys(w http.ResponseWriter, match func(*sshKey) bool) error {
	list := metalv1.SSHKeyList{SshKeys: []metalv1.SSHKey{}}
	s.st.view(func(st *state) {
		for _, k := range st.Keys {
			if match(k) {
				list.SshKeys = append(list.SshKeys, keyView(st, k))
			}
		}
	})
	slices.SortFunc(list.SshKeys, func(a, b metalv1.SSHKey) int { return strings.Compare(a.GetLabel(), b.GetLabel()) })
	return writeJSON(w, http.StatusOK, &list)
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkProject(r); err != nil {
		return err
	}
	return s.addKey(w, r, false)
}

func (s *Server) createUserKey(w http.ResponseWriter, r *http.Request) error {
	return s.addKey(w, r, true)
}

func (s *Server) addKey(w http.ResponseWriter, r *http.Request, user bool) error {
	var in metalv1.SSHKeyCreateInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Key == nil {
		return fail(http.StatusUnprocessableEntity, "key is required: an SSH public key such as the line in ~/.ssh/id_ed25519.pub")
	}
	text, err := publicKeyLine(*in.Key)
	if err != nil {
		return err
	}
	k := &sshKey{ID: uuid(), Key: text, User: user, Tags: in.Tags, CreatedAt: now()}
	k.UpdatedAt = k.CreatedAt
	if in.Label != nil {
		k.Label = *in.Label
	}
	var out metalv1.SSHKey
	err = s.st.update(func(st *state) error {
		st.Keys[k.ID] = k
		out = keyView(st, k)
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, &out)
}

// publicKeyLine checks that text is one public key as authorized_keys
// holds it (type, key, optional comment), since it is written there on
// new devices: no options, no second line.
func publicKeyLine(text string) (string, error) {
	text = strings.TrimSpace(text)
	_, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(text))
	switch {
	case err != nil:
		return "", fail(http.StatusUnprocessableEntity, "key is not a valid SSH public key: %v", err)
	case len(options) > 0 || len(rest) > 0 || strings.ContainsAny(text, "\r\n"):
		return "", fail(http.StatusUnprocessableEntity, "key must be one SSH public key line (type, key, comment), without options or further lines")
	}
	return text, nil
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) error {
	var out *metalv1.SSHKey
	s.st.view(func(st *state) {
		if k, ok := st.Keys[r.PathValue("id")]; ok {
			out = ptr(keyView(st, k))
		}
	})
	if out == nil {
		return fail(http.StatusNotFound, "Not found: ssh key %s", r.PathValue("id"))
	}
	return writeJSON(w, http.StatusOK, out)
}

// updateKey changes a key's label, text or tags. Devices that already have
// the key keep the text they were given, as on Metal.
func (s *Server) updateKey(w http.ResponseWriter, r *http.Request) error {
	var in metalv1.SSHKeyInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	var text string
	if in.Key != nil {
		var err error
		if text, err = publicKeyLine(*in.Key); err != nil {
			return err
		}
	}
	var out metalv1.SSHKey
	err := s.st.update(func(st *state) error {
		k, ok := st.Keys[r.PathValue("id")]
		if !ok {
			return fail(http.StatusNotFound, "Not found: ssh key %s", r.PathValue("id"))
		}
		if in.Key != nil {
			k.Key = text
		}
		if in.Label != nil {
			k.Label = *in.Label
		}
		if in.Tags != nil {
			k.Tags = in.Tags
		}
		k.UpdatedAt = now()
		out = keyView(st, k)
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, &out)
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	err := s.st.update(func(st *state) error {
		if _, ok := st.Keys[r.PathValue("id")]; !ok {
			return fail(http.StatusNotFound, "Not found: ssh key %s", r.PathValue("id"))
		}
		delete(st.Keys, r.PathValue("id"))
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keyView is the key as the API shows it. Its owner is where Terraform's
// metal_ssh_key and metal_project_ssh_key read owner_id from (and fail
// without it).
func keyView(st *state, k *sshKey) metalv1.SSHKey {
	href := BasePath + "/ssh-keys/" + k.ID
	owner := BasePath + "/projects/" + st.Project
	if k.User {
		owner = BasePath + "/users/" + st.User
	}
	updated := k.UpdatedAt
	if updated.IsZero() { // saved before keys had it
		updated = k.CreatedAt
	}
	v := metalv1.SSHKey{
		Id: &k.ID, Href: &href, Key: &k.Key, Label: &k.Label, Tags: k.Tags,
		CreatedAt: &k.CreatedAt, UpdatedAt: &updated,
		Entity:               &metalv1.Href{Href: owner},
		AdditionalProperties: map[string]any{"owner": map[string]any{"href": owner}},
	}
	if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Key)); err == nil {
		fp := ssh.FingerprintLegacyMD5(pk)
		v.Fingerprint = &fp
	}
	return v
}
