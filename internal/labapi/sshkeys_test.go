package labapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"golang.org/x/crypto/ssh"
)

// bareAPI serves the API over a store in dir and no lab: every endpoint
// that touches no device works, and nothing can boot. It returns an SDK
// client with the API's token.
func bareAPI(t *testing.T, dir string) (*Server, *metalv1.APIClient, context.Context) {
	t.Helper()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t.Context(), nil, st, Options{})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c, ctx := sdkClient(ts.URL, srv.Token())
	return srv, c, ctx
}

func sdkClient(url, token string) (*metalv1.APIClient, context.Context) {
	cfg := metalv1.NewConfiguration()
	cfg.Servers = metalv1.ServerConfigurations{{URL: url + BasePath}}
	ctx := context.WithValue(context.Background(), metalv1.ContextAPIKeys, map[string]metalv1.APIKey{"x_auth_token": {Key: token}})
	return metalv1.NewAPIClient(cfg), ctx
}

func publicKey(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment
}

// apiError is the status and the API's error body of a failed SDK call,
// as the SDK decoded it.
func apiErrorOf(t *testing.T, resp *http.Response, err error) (int, metalv1.Error) {
	t.Helper()
	var oe *metalv1.GenericOpenAPIError
	if !errors.As(err, &oe) || resp == nil {
		t.Fatalf("want an API error, got %v", err)
	}
	body, ok := oe.Model().(metalv1.Error)
	if !ok {
		t.Fatalf("the SDK did not decode the error body %s into metalv1.Error", oe.Body())
	}
	return resp.StatusCode, body
}

func ownerOf(k *metalv1.SSHKey) string {
	owner, _ := k.AdditionalProperties["owner"].(map[string]any)
	href, _ := owner["href"].(string)
	return href
}

func labels(list *metalv1.SSHKeyList) []string {
	var out []string
	for _, k := range list.GetSshKeys() {
		out = append(out, k.GetLabel())
	}
	slices.Sort(out)
	return out
}

func TestUserSSHKeysThroughTheSDK(t *testing.T) {
	dir := t.TempDir()
	srv, c, ctx := bareAPI(t, dir)
	api := c.SSHKeysApi
	laptop, desktop := publicKey(t, "me@laptop"), publicKey(t, "me@desktop")

	label := "laptop"
	k, resp, err := api.CreateSSHKey(ctx).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &label, Key: &laptop, Tags: []string{"me"}}).Execute()
	if err != nil {
		t.Fatal(err)
	}
	pk, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(laptop))
	if resp.StatusCode != http.StatusCreated || k.GetKey() != laptop || k.GetLabel() != "laptop" ||
		k.GetFingerprint() != ssh.FingerprintLegacyMD5(pk) || !slices.Equal(k.Tags, []string{"me"}) {
		t.Errorf("created: %d %+v", resp.StatusCode, k)
	}
	// Terraform's metal_ssh_key reads the owner's id from owner.href.
	if !strings.HasPrefix(ownerOf(k), BasePath+"/users/") {
		t.Errorf("a user key's owner is %q, want a user", ownerOf(k))
	}

	// A project key is not the user's, and the user's is not the project's.
	plabel := "deploy"
	pkey, _, err := api.CreateProjectSSHKey(ctx, srv.Project()).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &plabel, Key: &desktop}).Execute()
	if err != nil {
		t.Fatal(err)
	}
	if ownerOf(pkey) != BasePath+"/projects/"+srv.Project() {
		t.Errorf("a project key's owner is %q, want the project", ownerOf(pkey))
	}
	mine, _, err := api.FindSSHKeys(ctx).Include(nil).Execute()
	if err != nil || !slices.Equal(labels(mine), []string{"laptop"}) {
		t.Errorf("user keys: %v %v", labels(mine), err)
	}
	theirs, _, err := api.FindProjectSSHKeys(ctx, srv.Project()).Execute()
	if err != nil || !slices.Equal(labels(theirs), []string{"deploy"}) {
		t.Errorf("project keys: %v %v", labels(theirs), err)
	}
	if found, _, _ := api.FindSSHKeys(ctx).Search("lap").Execute(); len(found.GetSshKeys()) != 1 {
		t.Errorf("search lap: %v", labels(found))
	}
	if found, _, _ := api.FindSSHKeys(ctx).Search("nothing").Execute(); len(found.GetSshKeys()) != 0 {
		t.Errorf("search nothing: %v", labels(found))
	}

	got, _, err := api.FindSSHKeyById(ctx, k.GetId()).Include(nil).Execute()
	if err != nil || got.GetKey() != laptop || ownerOf(got) != ownerOf(k) {
		t.Fatalf("get: %+v %v", got, err)
	}

	// Update: label alone, then the key alone.
	renamed := "old laptop"
	up, _, err := api.UpdateSSHKey(ctx, k.GetId()).SSHKeyInput(metalv1.SSHKeyInput{Label: &renamed}).Execute()
	if err != nil || up.GetLabel() != renamed || up.GetKey() != laptop {
		t.Fatalf("update label: %+v %v", up, err)
	}
	up, _, err = api.UpdateSSHKey(ctx, k.GetId()).SSHKeyInput(metalv1.SSHKeyInput{Key: &desktop}).Execute()
	if err != nil || up.GetLabel() != renamed || up.GetKey() != desktop || up.GetFingerprint() == k.GetFingerprint() {
		t.Fatalf("update key: %+v %v", up, err)
	}

	// Bad input is a 422 with the API's error body, and changes nothing.
	bad := "ssh-ed25519 not-base64 me@laptop"
	withOptions := `command="/bin/sh" ` + laptop
	twoLines := laptop + "\n" + desktop
	for name, call := range map[string]func() (*metalv1.SSHKey, *http.Response, error){
		"create bad key": api.CreateSSHKey(ctx).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &label, Key: &bad}).Execute,
		"create no key":  api.CreateSSHKey(ctx).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &label}).Execute,
		"create options": api.CreateSSHKey(ctx).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &label, Key: &withOptions}).Execute,
		"create 2 lines": api.CreateSSHKey(ctx).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &label, Key: &twoLines}).Execute,
		"update bad key": api.UpdateSSHKey(ctx, k.GetId()).SSHKeyInput(metalv1.SSHKeyInput{Key: &bad}).Execute,
		"update 2 lines": api.UpdateSSHKey(ctx, k.GetId()).SSHKeyInput(metalv1.SSHKeyInput{Key: &twoLines}).Execute,
	} {
		_, resp, err := call()
		status, body := apiErrorOf(t, resp, err)
		if status != http.StatusUnprocessableEntity || len(body.GetErrors()) != 1 || !strings.Contains(body.GetError(), "key") {
			t.Errorf("%s: %d %+v", name, status, body)
		}
	}
	if got, _, _ := api.FindSSHKeyById(ctx, k.GetId()).Execute(); got.GetKey() != desktop {
		t.Errorf("a refused update changed the key to %q", got.GetKey())
	}
	if mine, _, _ := api.FindSSHKeys(ctx).Execute(); len(mine.GetSshKeys()) != 1 {
		t.Errorf("a refused create added a key: %v", labels(mine))
	}
	if _, resp, err := api.UpdateSSHKey(ctx, "no-such-key").SSHKeyInput(metalv1.SSHKeyInput{Label: &renamed}).Execute(); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("update of a missing key: %v %v", resp, err)
	}

	// A wrong token is a 401, as everywhere else.
	bc, bctx := sdkClient(strings.TrimSuffix(c.GetConfig().Servers[0].URL, BasePath), "nope")
	if _, resp, err := bc.SSHKeysApi.FindSSHKeys(bctx).Execute(); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %v %v", resp, err)
	}
	if _, resp, err := bc.SSHKeysApi.CreateSSHKey(bctx).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &label, Key: &laptop}).Execute(); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("create with a wrong token: %v %v", resp, err)
	}

	// Saved like the rest of the state: a restarted API still has it.
	_, c2, ctx2 := bareAPI(t, dir)
	again, _, err := c2.SSHKeysApi.FindSSHKeys(ctx2).Execute()
	if err != nil || !slices.Equal(labels(again), []string{renamed}) || ownerOf(&again.SshKeys[0]) != ownerOf(k) {
		t.Errorf("after a restart: %v %v", labels(again), err)
	}

	if _, err := api.DeleteSSHKey(ctx, k.GetId()).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := api.FindSSHKeyById(ctx, k.GetId()).Execute(); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("a deleted key: %v %v", resp, err)
	}
	if mine, _, _ := api.FindSSHKeys(ctx).Execute(); len(mine.GetSshKeys()) != 0 {
		t.Errorf("user keys after delete: %v", labels(mine))
	}
}

// What reaches a new device's authorized_keys, short of booting one (the
// lab-booting TestUserKeysReachNewDevices logs in with them).
func TestNewDevicesGetUserAndProjectKeys(t *testing.T) {
	srv, c, ctx := bareAPI(t, t.TempDir())
	add := func(label string, user bool) *metalv1.SSHKey {
		t.Helper()
		in := metalv1.SSHKeyCreateInput{Label: &label, Key: ptr(publicKey(t, label))}
		var k *metalv1.SSHKey
		var err error
		if user {
			k, _, err = c.SSHKeysApi.CreateSSHKey(ctx).SSHKeyCreateInput(in).Execute()
		} else {
			k, _, err = c.SSHKeysApi.CreateProjectSSHKey(ctx, srv.Project()).SSHKeyCreateInput(in).Execute()
		}
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	mine, gone, project := add("mine", true), add("gone", true), add("project", false)
	if _, err := c.SSHKeysApi.DeleteSSHKey(ctx, gone.GetId()).Execute(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		in   metalv1.DeviceCreateInMetroInput
		want []string
	}{
		{"default", metalv1.DeviceCreateInMetroInput{}, []string{mine.GetKey(), project.GetKey()}},
		{"no_ssh_keys", metalv1.DeviceCreateInMetroInput{NoSshKeys: ptr(true)}, nil},
	} {
		var got []string
		srv.st.view(func(st *state) { got = st.authorized(st.keysForNewDevice(&tc.in)) })
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: a new device gets %q, want %q", tc.name, got, want)
		}
	}
}
