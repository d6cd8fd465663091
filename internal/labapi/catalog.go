package labapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"github.com/runbookdev/runbook/internal/lab"
)

// The plans, metros and operating systems the lab accepts. Every device is
// a lab host running Debian 12 whatever operating system is asked for (the
// device reports the one asked for); the lab.light plan gives a host with
// sshd alone, for tests with many devices.
var (
	plans = map[string]string{
		"c3.small.x86":  lab.Full,
		"c3.medium.x86": lab.Full,
		"m3.small.x86":  lab.Full,
		"m3.large.x86":  lab.Full,
		"s3.xlarge.x86": lab.Full,
		"n3.xlarge.x86": lab.Full,
		"t3.small.x86":  lab.Full,
		"lab.light":     lab.Light,
	}
	metros = map[string]metro{
		"sv": {"Silicon Valley", "US"}, "da": {"Dallas", "US"}, "ny": {"New York", "US"}, "ch": {"Chicago", "US"},
		"dc": {"Washington DC", "US"}, "la": {"Los Angeles", "US"}, "am": {"Amsterdam", "NL"}, "fr": {"Frankfurt", "DE"},
		"ld": {"London", "GB"}, "sg": {"Singapore", "SG"}, "ty": {"Tokyo", "JP"}, "sy": {"Sydney", "AU"},
	}
	operatingSystems = map[string][3]string{ // slug -> name, distro, version
		"ubuntu_20_04": {"Ubuntu 20.04 LTS", "ubuntu", "20.04"},
		"ubuntu_22_04": {"Ubuntu 22.04 LTS", "ubuntu", "22.04"},
		"ubuntu_24_04": {"Ubuntu 24.04 LTS", "ubuntu", "24.04"},
		"debian_11":    {"Debian 11", "debian", "11"},
		"debian_12":    {"Debian 12", "debian", "12"},
		"rocky_9":      {"Rocky Linux 9", "rocky", "9"},
	}
)

type metro struct{ name, country string }

// catalogID is a catalog entry's id: a UUID derived from its slug, so it
// is the same on every lab and across restarts without being saved.
func catalogID(kind, slug string) string {
	h := sha256.Sum256([]byte("runbook lab " + kind + " " + slug))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func metroHref(code string) string { return BasePath + "/locations/metros/" + catalogID("metro", code) }

func (s *Server) listPlans(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	list := metalv1.PlanList{Plans: []metalv1.Plan{}}
	for _, slug := range sortedKeys(plans) {
		if (q.Get("slug") != "" && q.Get("slug") != slug) || (q.Get("type") != "" && q.Get("type") != string(metalv1.PLANTYPE_STANDARD)) {
			continue
		}
		desc := "Lab host: Debian 12 booted with systemd, in its own network namespace"
		if plans[slug] == lab.Light {
			desc = "Lab host: sshd alone, for tests with many hosts"
		}
		p := metalv1.Plan{
			Id: ptr(catalogID("plan", slug)), Slug: ptr(slug), Name: ptr(slug), Class: ptr(slug), Description: &desc,
			Line: ptr("baremetal"), Type: ptr(metalv1.PLANTYPE_STANDARD), Categories: []string{"compute"}, Legacy: ptr(false),
			DeploymentTypes: []metalv1.PlanDeploymentTypesInner{metalv1.PLANDEPLOYMENTTYPESINNER_ON_DEMAND},
			Pricing:         map[string]any{"hour": 0},
		}
		for _, code := range sortedKeys(metros) {
			p.AvailableInMetros = append(p.AvailableInMetros, metalv1.PlanAvailableInMetrosInner{Href: ptr(metroHref(code))})
		}
		list.Plans = append(list.Plans, p)
	}
	return writeJSON(w, http.StatusOK, &list)
}

func (s *Server) listProjectPlans(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkProject(r); err != nil {
		return err
	}
	return s.listPlans(w, r)
}

func metroView(code string) metalv1.Metro {
	m := metros[code]
	return metalv1.Metro{Id: ptr(catalogID("metro", code)), Code: ptr(code), Name: ptr(m.name), Country: ptr(m.country)}
}

func (s *Server) listMetros(w http.ResponseWriter, r *http.Request) error {
	list := metalv1.MetroList{Metros: []metalv1.Metro{}}
	for _, code := range sortedKeys(metros) {
		list.Metros = append(list.Metros, metroView(code))
	}
	return writeJSON(w, http.StatusOK, &list)
}

// getMetro takes the metro's id, as the API does, or its code.
func (s *Server) getMetro(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	for code := range metros {
		if id == code || id == catalogID("metro", code) {
			return writeJSON(w, http.StatusOK, ptr(metroView(code)))
		}
	}
	return fail(http.StatusNotFound, "Not found: metro %s: the lab has %s", id, keys(metros))
}

func (s *Server) listOperatingSystems(w http.ResponseWriter, r *http.Request) error {
	list := metalv1.OperatingSystemList{OperatingSystems: []metalv1.OperatingSystem{}}
	for _, slug := range sortedKeys(operatingSystems) {
		o := operatingSystems[slug]
		list.OperatingSystems = append(list.OperatingSystems, metalv1.OperatingSystem{
			Id: ptr(catalogID("os", slug)), Slug: ptr(slug), Name: ptr(o[0]), Distro: ptr(o[1]), Version: ptr(o[2]),
			ProvisionableOn: sortedKeys(plans), Licensed: ptr(false), Preinstallable: ptr(false),
		})
	}
	return writeJSON(w, http.StatusOK, &list)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
