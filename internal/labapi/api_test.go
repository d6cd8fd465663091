package labapi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"github.com/runbookdev/runbook/internal/labapi"
	"github.com/runbookdev/runbook/internal/labtest"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"github.com/runbookdev/runbook/internal/transport"
)

type env struct {
	client  *metalv1.APIClient
	ctx     context.Context
	project string
	srv     *labapi.Server
}

func client(url, token string) (*metalv1.APIClient, context.Context) {
	cfg := metalv1.NewConfiguration()
	cfg.Servers = metalv1.ServerConfigurations{{URL: url + labapi.BasePath}}
	ctx := context.WithValue(context.Background(), metalv1.ContextAPIKeys, map[string]metalv1.APIKey{"x_auth_token": {Key: token}})
	return metalv1.NewAPIClient(cfg), ctx
}

func waitState(t *testing.T, e *env, id string, want metalv1.DeviceState) *metalv1.Device {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d, _, err := e.client.DevicesApi.FindDeviceById(e.ctx, id).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if d.GetState() == want {
			return d
		}
		if d.GetState() == metalv1.DEVICESTATE_FAILED || time.Now().After(deadline) {
			t.Fatalf("device %s is %s, want %s", d.GetHostname(), d.GetState(), want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func create(e *env, host, plan string, tags ...string) (*metalv1.Device, *http.Response, error) {
	in := metalv1.DeviceCreateInMetroInput{Metro: "sv", Plan: plan, OperatingSystem: "ubuntu_20_04", Hostname: &host, Tags: tags}
	return e.client.DevicesApi.CreateDevice(e.ctx, e.project).CreateDeviceRequest(metalv1.CreateDeviceRequest{DeviceCreateInMetroInput: &in}).Execute()
}

func TestSDKAgainstTheLab(t *testing.T) {
	l := labtest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := labapi.New(ctx, l, labapi.Options{Capacity: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Wait() // before the lab is torn down
	defer cancel()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	c, cctx := client(ts.URL, srv.Token())
	e := &env{client: c, ctx: cctx, project: srv.Project(), srv: srv}

	// Auth: a wrong token is a 401 with the API's error body.
	bad, badCtx := client(ts.URL, "nope")
	_, resp, err := bad.DevicesApi.FindProjectDevices(badCtx, e.project).Execute()
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %v %v", resp, err)
	}
	var oe *metalv1.GenericOpenAPIError
	if !errors.As(err, &oe) || !strings.Contains(string(oe.Body()), "Invalid authentication token") {
		t.Errorf("401 body: %v", err)
	}

	// The controller's key, registered as a project key, reaches new devices.
	keyFile := filepath.Join(t.TempDir(), "id")
	if _, err := sshkeys.Generate(keyFile, "controller"); err != nil {
		t.Fatal(err)
	}
	pubLine, _ := os.ReadFile(keyFile + ".pub")
	label, keyText := "controller", strings.TrimSpace(string(pubLine))
	if _, _, err := c.SSHKeysApi.CreateProjectSSHKey(cctx, e.project).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &label, Key: &keyText}).Execute(); err != nil {
		t.Fatal(err)
	}

	if _, resp, err := create(e, "x1", "c9.huge"); err == nil || resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad plan: %v %v", resp, err)
	}
	full, _, err := create(e, "node00", "c3.small.x86", "consul")
	if err != nil {
		t.Fatal(err)
	}
	if full.GetState() != metalv1.DEVICESTATE_QUEUED {
		t.Errorf("a new device is %s, want queued", full.GetState())
	}
	var ids []string
	for i := 1; i <= 3; i++ {
		d, _, err := create(e, fmt.Sprintf("light%02d", i), "lab.light", "light")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.GetId())
	}
	if _, resp, err := create(e, "light09", "lab.light"); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("over capacity: %v %v", resp, err)
	}
	if _, resp, err := create(e, "light01", "lab.light"); err == nil || resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate hostname: %v %v", resp, err)
	}

	d := waitState(t, e, full.GetId(), metalv1.DEVICESTATE_ACTIVE)
	for _, id := range ids {
		waitState(t, e, id, metalv1.DEVICESTATE_ACTIVE)
	}
	var public, private string
	for _, a := range d.IpAddresses {
		if a.GetPublic() {
			public = a.GetAddress()
		} else {
			private = a.GetAddress()
		}
	}
	if public == "" || private == "" {
		t.Fatalf("addresses: %+v", d.IpAddresses)
	}

	// Reachable over SSH with the project key; systemd runs.
	pool := &transport.Pool{Keys: &transport.HostKeys{AcceptNew: true, Files: []string{filepath.Join(t.TempDir(), "kh")}}, Timeout: 10 * time.Second}
	defer pool.Close()
	conn, err := pool.Get(context.Background(), transport.Target{Name: "node00", Address: public, User: "root", KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	res, err := conn.Run(context.Background(), "systemctl is-system-running --wait; hostname", nil)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(res.Stdout)), "node00") {
		t.Fatalf("%q %v", res.Stdout, err)
	}

	// Pagination and filters, through the SDK's own paging.
	all, err := c.DevicesApi.FindProjectDevices(cctx, e.project).PerPage(2).ExecuteWithPagination()
	if err != nil || len(all.Devices) != 4 {
		t.Fatalf("paginated list: %d devices, %v", len(all.Devices), err)
	}
	page2, _, err := c.DevicesApi.FindProjectDevices(cctx, e.project).PerPage(3).Page(2).Execute()
	if err != nil || len(page2.Devices) != 1 || page2.Meta.GetLastPage() != 2 || page2.Meta.GetTotal() != 4 {
		t.Fatalf("page 2: %+v %v", page2.Meta, err)
	}
	byTag, _, _ := c.DevicesApi.FindProjectDevices(cctx, e.project).Tag("consul").Execute()
	byName, _, _ := c.DevicesApi.FindProjectDevices(cctx, e.project).Hostname("light02").Execute()
	if len(byTag.Devices) != 1 || len(byName.Devices) != 1 || byName.Devices[0].GetHostname() != "light02" {
		t.Errorf("filters: tag %d, hostname %d", len(byTag.Devices), len(byName.Devices))
	}

	// Power off really stops the host; power on brings it back, disk intact.
	conn.Run(context.Background(), "echo kept > /root/marker", nil)
	act := func(typ metalv1.DeviceActionInputType) {
		t.Helper()
		if _, err := c.DevicesApi.PerformAction(cctx, full.GetId()).DeviceActionInput(metalv1.DeviceActionInput{Type: typ}).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	act(metalv1.DEVICEACTIONINPUTTYPE_POWER_OFF)
	waitState(t, e, full.GetId(), metalv1.DEVICESTATE_INACTIVE)
	if nc, err := net.DialTimeout("tcp", public+":22", time.Second); err == nil {
		nc.Close()
		t.Fatal("a powered-off device still answers")
	}
	act(metalv1.DEVICEACTIONINPUTTYPE_POWER_ON)
	waitState(t, e, full.GetId(), metalv1.DEVICESTATE_ACTIVE)
	pool2 := &transport.Pool{Keys: pool.Keys, Timeout: 10 * time.Second}
	defer pool2.Close()
	conn2, err := pool2.Get(context.Background(), transport.Target{Name: "node00", Address: public, User: "root", KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := conn2.Run(context.Background(), "cat /root/marker", nil); strings.TrimSpace(string(res.Stdout)) != "kept" {
		t.Errorf("disk after power cycle: %q", res.Stdout)
	}

	// Delete destroys it.
	if _, err := c.DevicesApi.DeleteDevice(cctx, ids[0]).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := c.DevicesApi.FindDeviceById(cctx, ids[0]).Execute(); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted device: %v %v", resp, err)
	}
	if _, err := l.Host("light01"); err == nil {
		t.Error("the deleted device's host still exists")
	}

	// A restarted API still knows its devices, whose hosts still run.
	srv.Wait()
	srv2, err := labapi.New(ctx, l, labapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(srv2.Handler())
	defer ts2.Close()
	c2, cctx2 := client(ts2.URL, srv2.Token())
	after, _, err := c2.DevicesApi.FindProjectDevices(cctx2, srv2.Project()).Execute()
	if err != nil || len(after.Devices) != 3 || srv2.Project() != e.project {
		t.Fatalf("after restart: %v %v", after, err)
	}
	for _, dev := range after.Devices {
		if dev.GetState() != metalv1.DEVICESTATE_ACTIVE {
			t.Errorf("%s is %s after an API restart", dev.GetHostname(), dev.GetState())
		}
	}
	cancel()
	srv2.Wait()
}

// Boots one light host: a user key (metal ssh-key create) reaches a new
// device's authorized_keys and logs in; one deleted before the device was
// created does not.
func TestUserKeysReachNewDevices(t *testing.T) {
	l := labtest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := labapi.New(ctx, l, labapi.Options{Capacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Wait() // before the lab is torn down
	defer cancel()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	c, cctx := client(ts.URL, srv.Token())
	e := &env{client: c, ctx: cctx, project: srv.Project(), srv: srv}

	userKey := func(name string) (file, text, id string) {
		t.Helper()
		file = filepath.Join(t.TempDir(), name)
		if _, err := sshkeys.Generate(file, name); err != nil {
			t.Fatal(err)
		}
		pub, err := os.ReadFile(file + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		text = strings.TrimSpace(string(pub))
		k, _, err := c.SSHKeysApi.CreateSSHKey(cctx).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &name, Key: &text}).Execute()
		if err != nil {
			t.Fatal(err)
		}
		return file, text, k.GetId()
	}
	mineFile, mine, mineID := userKey("mine")
	goneFile, gone, goneID := userKey("gone")
	if _, err := c.SSHKeysApi.DeleteSSHKey(cctx, goneID).Execute(); err != nil {
		t.Fatal(err)
	}

	created, _, err := create(e, "ukey01", "lab.light")
	if err != nil {
		t.Fatal(err)
	}
	d := waitState(t, e, created.GetId(), metalv1.DEVICESTATE_ACTIVE)
	var hrefs []string
	for _, h := range d.SshKeys {
		hrefs = append(hrefs, h.Href)
	}
	if len(hrefs) != 1 || hrefs[0] != labapi.BasePath+"/ssh-keys/"+mineID {
		t.Errorf("the device's keys are %q, want only the user key %s", hrefs, mineID)
	}
	var public string
	for _, a := range d.IpAddresses {
		if a.GetPublic() {
			public = a.GetAddress()
		}
	}

	pool := &transport.Pool{Keys: &transport.HostKeys{AcceptNew: true, Files: []string{filepath.Join(t.TempDir(), "kh")}}, Timeout: 10 * time.Second}
	defer pool.Close()
	conn, err := pool.Get(context.Background(), transport.Target{Name: "ukey01", Address: public, User: "root", KeyFile: mineFile})
	if err != nil {
		t.Fatalf("log in with the user key: %v", err)
	}
	res, err := conn.Run(context.Background(), "cat /root/.ssh/authorized_keys", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ak := string(res.Stdout); !strings.Contains(ak, mine) || strings.Contains(ak, gone) {
		t.Errorf("authorized_keys has the user key %v, the deleted key %v:\n%s", strings.Contains(ak, mine), strings.Contains(ak, gone), ak)
	}
	other := &transport.Pool{Keys: pool.Keys, Timeout: 10 * time.Second}
	defer other.Close()
	if _, err := other.Get(context.Background(), transport.Target{Name: "ukey01", Address: public, User: "root", KeyFile: goneFile}); err == nil {
		t.Error("the key deleted before the device was created logs in")
	}
}
