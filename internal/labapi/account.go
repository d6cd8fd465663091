package labapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
)

// The lab has one project in one organization, and one user: the token's.
// `metal init` reads them to find its default project and organization.

func projectView(st *state) metalv1.Project {
	href, orgHref := BasePath+"/projects/"+st.Project, BasePath+"/organizations/"+st.Organization
	p := metalv1.Project{
		Id: ptr(st.Project), Href: &href, Name: ptr("runbook lab"), Type: ptr(metalv1.PROJECTTYPE_DEFAULT),
		CreatedAt: &st.CreatedAt, UpdatedAt: &st.CreatedAt,
		Organization: &metalv1.Organization{Id: ptr(st.Organization), Href: &orgHref, Name: ptr("runbook lab")},
		Devices:      []metalv1.Href{}, SshKeys: []metalv1.Href{},
	}
	for id := range st.Devices {
		p.Devices = append(p.Devices, metalv1.Href{Href: BasePath + "/devices/" + id})
	}
	for id, k := range st.Keys {
		if !k.User {
			p.SshKeys = append(p.SshKeys, metalv1.Href{Href: BasePath + "/ssh-keys/" + id})
		}
	}
	byHref := func(a, b metalv1.Href) int { return strings.Compare(a.Href, b.Href) }
	slices.SortFunc(p.Devices, byHref)
	slices.SortFunc(p.SshKeys, byHref)
	return p
}

// listProjects pages like the API (its one project is on page 1) and
// filters by name.
func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page := atoiOr(q.Get("page"), 1)
	if page < 1 {
		return fail(http.StatusUnprocessableEntity, "page must be 1 or more")
	}
	var p metalv1.Project
	s.st.view(func(st *state) { p = projectView(st) })
	list := metalv1.ProjectList{Projects: []metalv1.Project{}}
	if page == 1 && (q.Get("name") == "" || q.Get("name") == p.GetName()) {
		list.Projects = append(list.Projects, p)
	}
	self := &metalv1.Href{Href: BasePath + "/projects?page=1"}
	list.Meta = &metalv1.Meta{Total: ptr(int32(len(list.Projects))), CurrentPage: ptr(int32(page)), LastPage: ptr(int32(1)), First: self, Last: self, Self: self}
	return writeJSON(w, http.StatusOK, &list)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkProject(r); err != nil {
		return err
	}
	var p metalv1.Project
	s.st.view(func(st *state) { p = projectView(st) })
	return writeJSON(w, http.StatusOK, &p)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	var u metalv1.User
	s.st.view(func(st *state) {
		u = metalv1.User{
			Id: ptr(st.User), Href: ptr(BasePath + "/users/" + st.User),
			FirstName: ptr("runbook"), LastName: ptr("lab"), FullName: ptr("runbook lab"),
			DefaultProjectId: ptr(st.Project), DefaultOrganizationId: ptr(st.Organization),
			CreatedAt: &st.CreatedAt, UpdatedAt: &st.CreatedAt,
		}
	})
	return writeJSON(w, http.StatusOK, &u)
}
