package labapi

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"github.com/google/go-cmp/cmp"
)

// The read-only endpoints clients call before they create anything, as
// the SDK (and so metal-cli and Terraform) decodes them.
func TestCatalogThroughTheSDK(t *testing.T) {
	dir := t.TempDir()
	srv, c, ctx := bareAPI(t, dir)

	pl, _, err := c.PlansApi.FindPlans(ctx).Include(nil).Exclude(nil).Execute()
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	metroHref := map[string]bool{}
	for _, p := range pl.GetPlans() {
		slugs = append(slugs, p.GetSlug())
		if p.GetId() == "" || p.GetName() == "" || p.GetDescription() == "" || p.GetType() != metalv1.PLANTYPE_STANDARD || len(p.AvailableInMetros) != len(metros) {
			t.Errorf("plan %s: %+v", p.GetSlug(), p)
		}
		for _, m := range p.AvailableInMetros {
			metroHref[m.GetHref()] = true
		}
	}
	if diff := cmp.Diff(sortedKeys(plans), slugs); diff != "" {
		t.Errorf("plans (-want +got):\n%s", diff)
	}
	light, _, err := c.PlansApi.FindPlans(ctx).Slug("lab.light").Execute()
	if err != nil || len(light.GetPlans()) != 1 || light.Plans[0].GetSlug() != "lab.light" {
		t.Errorf("plans by slug: %+v %v", light, err)
	}
	if custom, _, _ := c.PlansApi.FindPlans(ctx).Type_(metalv1.FINDPLANSTYPEPARAMETER_CUSTOM).Execute(); len(custom.GetPlans()) != 0 {
		t.Errorf("custom plans: %d, the lab has none", len(custom.GetPlans()))
	}
	if byProject, _, err := c.PlansApi.FindPlansByProject(ctx, srv.Project()).Execute(); err != nil || len(byProject.GetPlans()) != len(plans) {
		t.Errorf("the project's plans: %v", err)
	}

	ml, _, err := c.MetrosApi.FindMetros(ctx).Execute()
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, m := range ml.GetMetros() {
		codes = append(codes, m.GetCode())
		if m.GetId() == "" || m.GetName() != metros[m.GetCode()].name || len(m.GetCountry()) != 2 {
			t.Errorf("metro %s: %+v", m.GetCode(), m)
		}
		// Plans say where they are available by the metro's href.
		if !metroHref[BasePath+"/locations/metros/"+m.GetId()] {
			t.Errorf("no plan is available in %s", m.GetCode())
		}
		for _, id := range []string{m.GetId(), m.GetCode()} {
			if one, _, err := c.MetrosApi.GetMetro(ctx, id).Execute(); err != nil || one.GetCode() != m.GetCode() {
				t.Errorf("metro %s: %+v %v", id, one, err)
			}
		}
	}
	if diff := cmp.Diff(sortedKeys(metros), codes); diff != "" {
		t.Errorf("metros (-want +got):\n%s", diff)
	}
	if _, resp, err := c.MetrosApi.GetMetro(ctx, "zz").Execute(); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown metro: %v %v", resp, err)
	}

	ol, _, err := c.OperatingSystemsApi.FindOperatingSystems(ctx).Execute()
	if err != nil {
		t.Fatal(err)
	}
	var oses []string
	for _, o := range ol.GetOperatingSystems() {
		oses = append(oses, o.GetSlug())
		want := operatingSystems[o.GetSlug()]
		if o.GetId() == "" || o.GetName() != want[0] || o.GetDistro() != want[1] || o.GetVersion() != want[2] ||
			!slices.Equal(o.ProvisionableOn, sortedKeys(plans)) {
			t.Errorf("operating system %s: %+v", o.GetSlug(), o)
		}
	}
	if diff := cmp.Diff(sortedKeys(operatingSystems), oses); diff != "" {
		t.Errorf("operating systems (-want +got):\n%s", diff)
	}

	// Ids stay the same across restarts: clients keep them.
	_, c2, ctx2 := bareAPI(t, dir)
	pl2, _, err := c2.PlansApi.FindPlans(ctx2).Execute()
	if err != nil || pl2.Plans[0].GetId() != pl.Plans[0].GetId() {
		t.Errorf("a plan's id changed with a restart: %v", err)
	}

	// A wrong token is a 401 here as everywhere.
	bc, bctx := sdkClient(strings.TrimSuffix(c.GetConfig().Servers[0].URL, BasePath), "")
	type result struct {
		resp *http.Response
		err  error
	}
	call := func(_ any, resp *http.Response, err error) result { return result{resp, err} }
	for name, r := range map[string]result{
		"plans":     call(bc.PlansApi.FindPlans(bctx).Execute()),
		"metros":    call(bc.MetrosApi.FindMetros(bctx).Execute()),
		"oses":      call(bc.OperatingSystemsApi.FindOperatingSystems(bctx).Execute()),
		"projects":  call(bc.ProjectsApi.FindProjects(bctx).Execute()),
		"project":   call(bc.ProjectsApi.FindProjectById(bctx, srv.Project()).Execute()),
		"user":      call(bc.UsersApi.FindCurrentUser(bctx).Execute()),
		"user keys": call(bc.SSHKeysApi.FindSSHKeys(bctx).Execute()),
	} {
		if status, body := apiErrorOf(t, r.resp, r.err); status != http.StatusUnauthorized || body.GetError() == "" {
			t.Errorf("%s without a token: %d %+v", name, status, body)
		}
	}
}

// What `metal init` reads to find the default project and organization.
func TestProjectsAndUserThroughTheSDK(t *testing.T) {
	dir := t.TempDir()
	srv, c, ctx := bareAPI(t, dir)
	key := publicKey(t, "deploy")
	pk, _, err := c.SSHKeysApi.CreateProjectSSHKey(ctx, srv.Project()).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Key: &key}).Execute()
	if err != nil {
		t.Fatal(err)
	}

	list, _, err := c.ProjectsApi.FindProjects(ctx).Page(1).Execute()
	if err != nil || len(list.GetProjects()) != 1 || list.Meta.GetTotal() != 1 || list.Meta.GetLastPage() != 1 {
		t.Fatalf("projects: %+v %v", list, err)
	}
	p := list.Projects[0]
	org := p.GetOrganization()
	if p.GetId() != srv.Project() || p.GetName() == "" || p.GetHref() != BasePath+"/projects/"+srv.Project() ||
		org.GetId() == "" || org.GetHref() != BasePath+"/organizations/"+org.GetId() || p.GetCreatedAt().IsZero() {
		t.Errorf("project: %+v, organization %+v", p, org)
	}
	if len(p.SshKeys) != 1 || p.SshKeys[0].Href != pk.GetHref() {
		t.Errorf("the project's keys: %+v, want %s", p.SshKeys, pk.GetHref())
	}
	all, err := c.ProjectsApi.FindProjects(ctx).ExecuteWithPagination()
	if err != nil || len(all.GetProjects()) != 1 {
		t.Errorf("all projects: %v %v", all, err)
	}
	if named, _, _ := c.ProjectsApi.FindProjects(ctx).Name("no such project").Execute(); len(named.GetProjects()) != 0 {
		t.Errorf("projects named otherwise: %d", len(named.GetProjects()))
	}
	if page2, _, err := c.ProjectsApi.FindProjects(ctx).Page(2).Execute(); err != nil || len(page2.GetProjects()) != 0 {
		t.Errorf("page 2: %+v %v", page2, err)
	}

	one, _, err := c.ProjectsApi.FindProjectById(ctx, srv.Project()).Include(nil).Exclude(nil).Execute()
	if err != nil || one.GetId() != p.GetId() || one.GetName() != p.GetName() || one.Organization.GetId() != org.GetId() {
		t.Errorf("project by id: %+v %v", one, err)
	}
	if _, resp, err := c.ProjectsApi.FindProjectById(ctx, "other").Execute(); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("another project: %v %v", resp, err)
	}

	u, _, err := c.UsersApi.FindCurrentUser(ctx).Exclude([]string{"devices"}).Execute()
	if err != nil {
		t.Fatal(err)
	}
	if u.GetId() == "" || u.GetHref() != BasePath+"/users/"+u.GetId() || u.GetDefaultProjectId() != srv.Project() || u.GetDefaultOrganizationId() != org.GetId() {
		t.Errorf("user: %+v", u)
	}
	// The user owns user keys.
	label, mine := "mine", publicKey(t, "mine")
	uk, _, err := c.SSHKeysApi.CreateSSHKey(ctx).SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &label, Key: &mine}).Execute()
	if err != nil || ownerOf(uk) != u.GetHref() {
		t.Errorf("a user key's owner is %q, want %s (%v)", ownerOf(uk), u.GetHref(), err)
	}

	// The same project, organization and user after a restart.
	_, c2, ctx2 := bareAPI(t, dir)
	p2, _, err := c2.ProjectsApi.FindProjectById(ctx2, srv.Project()).Execute()
	u2, _, err2 := c2.UsersApi.FindCurrentUser(ctx2).Execute()
	if err != nil || err2 != nil || p2.Organization.GetId() != org.GetId() || !p2.GetCreatedAt().Equal(p.GetCreatedAt()) || u2.GetId() != u.GetId() {
		t.Errorf("after a restart: %+v %+v %v %v", p2, u2, err, err2)
	}
}

// A lab whose API state was saved before users and organizations keeps
// its project, token and keys (which stay the project's).
func TestStateFromBeforeUsers(t *testing.T) {
	dir := t.TempDir()
	key := publicKey(t, "old")
	old := `{"project": "p-1", "token": "t-1", "devices": {}, "ssh_keys": {"k-1": {"id": "k-1", "label": "old", "key": "` + key + `", "created_at": "2026-01-02T03:04:05Z"}}}`
	if err := os.WriteFile(filepath.Join(dir, "api.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, c, ctx := bareAPI(t, dir)
	if srv.Project() != "p-1" || srv.Token() != "t-1" {
		t.Fatalf("project %q, token %q", srv.Project(), srv.Token())
	}
	keys, _, err := c.SSHKeysApi.FindProjectSSHKeys(ctx, "p-1").Execute()
	if err != nil || len(keys.GetSshKeys()) != 1 || keys.SshKeys[0].GetUpdatedAt().IsZero() || ownerOf(&keys.SshKeys[0]) != BasePath+"/projects/p-1" {
		t.Errorf("the old key: %+v %v", keys, err)
	}
	u, _, err := c.UsersApi.FindCurrentUser(ctx).Execute()
	if err != nil || u.GetId() == "" || u.GetDefaultOrganizationId() == "" {
		t.Fatalf("user: %+v %v", u, err)
	}
	_, c2, ctx2 := bareAPI(t, dir)
	if u2, _, _ := c2.UsersApi.FindCurrentUser(ctx2).Execute(); u2.GetId() != u.GetId() || u2.GetDefaultOrganizationId() != u.GetDefaultOrganizationId() {
		t.Errorf("the user made for an old state changed with a restart: %s, was %s", u2.GetId(), u.GetId())
	}
}
