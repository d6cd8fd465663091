package labapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"golang.org/x/crypto/ssh"
)

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkProject(r); err != nil {
		return err
	}
	list := metalv1.SSHKeyList{SshKeys: []metalv1.SSHKey{}}
	s.st.view(func(st *state) {
		for _, k := range st.Keys {
			list.SshKeys = append(list.SshKeys, keyView(k))
		}
	})
	slices.SortFunc(list.SshKeys, func(a, b metalv1.SSHKey) int { return strings.Compare(a.GetLabel(), b.GetLabel()) })
	return writeJSON(w, http.StatusOK, &list)
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkProject(r); err != nil {
		return err
	}
	var in metalv1.SSHKeyCreateInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Key == nil {
		return fail(http.StatusUnprocessableEntity, "key is required")
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*in.Key)); err != nil {
		return fail(http.StatusUnprocessableEntity, "key is not a valid SSH public key: %v", err)
	}
	k := &sshKey{ID: uuid(), Key: strings.TrimSpace(*in.Key), CreatedAt: now()}
	if in.Label != nil {
		k.Label = *in.Label
	}
	if err := s.st.update(func(st *state) error { st.Keys[k.ID] = k; return nil }); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, ptr(keyView(k)))
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) error {
	var k *sshKey
	s.st.view(func(st *state) { k = st.Keys[r.PathValue("id")] })
	if k == nil {
		return fail(http.StatusNotFound, "Not found: ssh key %s", r.PathValue("id"))
	}
	return writeJSON(w, http.StatusOK, ptr(keyView(k)))
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

func keyView(k *sshKey) metalv1.SSHKey {
	href := BasePath + "/ssh-keys/" + k.ID
	v := metalv1.SSHKey{Id: &k.ID, Href: &href, Key: &k.Key, Label: &k.Label, CreatedAt: &k.CreatedAt}
	if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Key)); err == nil {
		fp := ssh.FingerprintLegacyMD5(pk)
		v.Fingerprint = &fp
	}
	return v
}
