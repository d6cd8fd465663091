package labapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"github.com/runbookdev/runbook/internal/lab"
)

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkProject(r); err != nil {
		return err
	}
	q := r.URL.Query()
	page, perPage := atoiOr(q.Get("page"), 1), atoiOr(q.Get("per_page"), 20)
	if page < 1 || perPage < 1 || perPage > 1000 {
		return fail(http.StatusUnprocessableEntity, "page must be 1 or more, per_page between 1 and 1000")
	}
	var all []*device
	s.st.view(func(st *state) {
		for _, d := range st.Devices {
			if h := q.Get("hostname"); h != "" && d.Hostname != h {
				continue
			}
			if t := q.Get("tag"); t != "" && !slices.Contains(d.Tags, t) {
				continue
			}
			if m := q.Get("search"); m != "" && !strings.Contains(d.Hostname, m) {
				continue
			}
			c := *d
			all = append(all, &c)
		}
	})
	slices.SortFunc(all, func(a, b *device) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Hostname, b.Hostname)
	})
	last := max(1, (len(all)+perPage-1)/perPage)
	from, to := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
	list := metalv1.DeviceList{Devices: []metalv1.Device{}}
	for _, d := range all[from:to] {
		list.Devices = append(list.Devices, s.view(d))
	}
	href := func(p int) *metalv1.Href {
		return &metalv1.Href{Href: fmt.Sprintf("%s/projects/%s/devices?page=%d&per_page=%d", BasePath, s.Project(), p, perPage)}
	}
	total, cur, lastP := int32(len(all)), int32(page), int32(last)
	list.Meta = &metalv1.Meta{Total: &total, CurrentPage: &cur, LastPage: &lastP, First: href(1), Last: href(last), Self: href(page)}
	if page < last {
		list.Meta.Next = href(page + 1)
	}
	if page > 1 {
		list.Meta.Previous = href(page - 1)
	}
	return writeJSON(w, http.StatusOK, &list)
}

func atoiOr(s string, def int) int {
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func (s *Server) createDevice(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkProject(r); err != nil {
		return err
	}
	var in metalv1.DeviceCreateInMetroInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	kind, ok := plans[in.Plan]
	switch {
	case !ok:
		return fail(http.StatusUnprocessableEntity, "Plan %q is not valid: the lab has %s", in.Plan, keys(plans))
	case metros[in.Metro].name == "":
		return fail(http.StatusUnprocessableEntity, "Metro %q is not valid: the lab has %s", in.Metro, keys(metros))
	case operatingSystems[in.OperatingSystem][0] == "":
		return fail(http.StatusUnprocessableEntity, "Operating system %q is not valid: the lab has %s", in.OperatingSystem, keys(operatingSystems))
	case in.Hostname == nil || !lab.ValidName(*in.Hostname):
		return fail(http.StatusUnprocessableEntity, "hostname is required: lower-case letters, digits and -, at most 40")
	}
	d := &device{
		ID: uuid(), Hostname: *in.Hostname, Plan: in.Plan, Metro: in.Metro, OS: in.OperatingSystem,
		Tags: in.Tags, State: "queued", CreatedAt: now(), UpdatedAt: now(),
	}
	if in.Userdata != nil {
		d.Userdata = *in.Userdata
	}
	if in.Description != nil {
		d.Desc = *in.Description
	}
	if in.Locked != nil {
		d.Locked = *in.Locked
	}
	err := s.st.update(func(st *state) error {
		for _, o := range st.Devices {
			if o.Hostname == d.Hostname {
				return fail(http.StatusUnprocessableEntity, "hostname %q is taken in this project: the lab requires unique hostnames", d.Hostname)
			}
		}
		if len(st.Devices) >= s.capacity {
			return fail(http.StatusServiceUnavailable, "no capacity: the lab holds at most %d devices", s.capacity)
		}
		d.Keys = st.keysForNewDevice(&in)
		st.Devices[d.ID] = d
		return nil
	})
	if err != nil {
		return err
	}
	// d belongs to the store now; show the state it was created in.
	created := *d
	created.Keys = slices.Clone(d.Keys)
	s.track(d.ID, func(ctx context.Context) { s.provision(ctx, created.ID, kind) })
	return writeJSON(w, http.StatusCreated, ptr(s.view(&created)))
}

// provision boots the device's host: queued, provisioning, then active once
// sshd answers (or failed).
func (s *Server) provision(ctx context.Context, id, kind string) {
	var d device
	var authorized []string
	s.setState(id, "provisioning", "")
	s.st.view(func(st *state) {
		if p, ok := st.Devices[id]; ok {
			d = *p
			authorized = st.authorized(p.Keys)
		}
	})
	if d.ID == "" {
		return
	}
	var err error
	if _, herr := s.lab.Host(d.Hostname); herr == nil {
		err = s.lab.Start(ctx, d.Hostname) // resumed after a restart
	} else {
		_, err = s.lab.Create(ctx, lab.Spec{Name: d.Hostname, Kind: kind, Authorized: authorized, Tags: d.Tags})
	}
	if err != nil {
		s.log.Error("provision", "device", d.Hostname, "err", err)
		s.setState(id, "failed", err.Error())
		return
	}
	s.setState(id, "active", "")
}

// resume restarts what a previous server left unfinished.
func (s *Server) resume() {
	var todo []*device
	s.st.view(func(st *state) {
		for _, d := range st.Devices {
			if d.State == "queued" || d.State == "provisioning" || d.State == "powering_on" {
				c := *d
				todo = append(todo, &c)
			}
		}
	})
	for _, d := range todo {
		s.track(d.ID, func(ctx context.Context) { s.provision(ctx, d.ID, plans[d.Plan]) })
	}
}

func (s *Server) setState(id, to, msg string) {
	s.st.update(func(st *state) error {
		if d, ok := st.Devices[id]; ok {
			d.State, d.Error, d.UpdatedAt = to, msg, now()
		}
		return nil
	})
}

func (s *Server) find(id string) (*device, error) {
	var d *device
	s.st.view(func(st *state) {
		if p, ok := st.Devices[id]; ok {
			c := *p
			d = &c
		}
	})
	if d == nil {
		return nil, fail(http.StatusNotFound, "Not found: device %s", id)
	}
	return d, nil
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := s.find(r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ptr(s.view(d)))
}

func (s *Server) updateDevice(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in metalv1.DeviceUpdateInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	var out *device
	err := s.st.update(func(st *state) error {
		d, ok := st.Devices[id]
		if !ok {
			return fail(http.StatusNotFound, "Not found: device %s", id)
		}
		if in.Hostname != nil && *in.Hostname != d.Hostname {
			return fail(http.StatusUnprocessableEntity, "hostname cannot change in the lab: create a new device")
		}
		if in.Tags != nil {
			d.Tags = in.Tags
		}
		if in.Description != nil {
			d.Desc = *in.Description
		}
		if in.Locked != nil {
			d.Locked = *in.Locked
		}
		if in.Userdata != nil {
			d.Userdata = *in.Userdata
		}
		d.UpdatedAt = now()
		c := *d
		out = &c
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ptr(s.view(out)))
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := s.find(r.PathValue("id"))
	if err != nil {
		return err
	}
	if d.Locked {
		return fail(http.StatusUnprocessableEntity, "Cannot delete a locked device: unlock it first")
	}
	s.cancel(d.ID)
	if _, err := s.lab.Host(d.Hostname); err == nil {
		if err := s.lab.Remove(r.Context(), d.Hostname); err != nil {
			return fmt.Errorf("remove lab host %s: %w", d.Hostname, err)
		}
	}
	if err := s.st.update(func(st *state) error { delete(st.Devices, d.ID); return nil }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) action(w http.ResponseWriter, r *http.Request) error {
	d, err := s.find(r.PathValue("id"))
	if err != nil {
		return err
	}
	var in metalv1.DeviceActionInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if d.State != "active" && d.State != "inactive" {
		return fail(http.StatusUnprocessableEntity, "device %s is %s: actions need it active or inactive", d.Hostname, d.State)
	}
	var during, after string
	var do func(ctx context.Context) error
	switch in.Type {
	case metalv1.DEVICEACTIONINPUTTYPE_POWER_OFF:
		during, after = "powering_off", "inactive"
		do = func(ctx context.Context) error { return s.lab.PowerOff(ctx, d.Hostname) }
	case metalv1.DEVICEACTIONINPUTTYPE_POWER_ON:
		during, after = "powering_on", "active"
		do = func(ctx context.Context) error { return s.lab.Start(ctx, d.Hostname) }
	case metalv1.DEVICEACTIONINPUTTYPE_REBOOT:
		during, after = "powering_on", "active"
		do = func(ctx context.Context) error {
			if err := s.lab.Stop(ctx, d.Hostname); err != nil {
				return err
			}
			return s.lab.Start(ctx, d.Hostname)
		}
	default:
		return fail(http.StatusUnprocessableEntity, "action %q is not supported by the lab (power_on, power_off, reboot)", in.Type)
	}
	s.setState(d.ID, during, "")
	s.track(d.ID, func(ctx context.Context) {
		if err := do(ctx); err != nil {
			s.log.Error("device action", "device", d.Hostname, "action", in.Type, "err", err)
			s.setState(d.ID, "failed", err.Error())
			return
		}
		s.setState(d.ID, after, "")
	})
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// view is the device as the API shows it, in the SDK's own model.
func (s *Server) view(d *device) metalv1.Device {
	href := BasePath + "/devices/" + d.ID
	st := metalv1.DeviceState(d.State)
	osInfo := operatingSystems[d.OS]
	metroName := metros[d.Metro].name
	out := metalv1.Device{
		Id: &d.ID, Href: &href, Hostname: &d.Hostname, State: &st, Tags: d.Tags,
		CreatedAt: &d.CreatedAt, UpdatedAt: &d.UpdatedAt, Locked: &d.Locked,
		Plan:            &metalv1.Plan{Slug: &d.Plan, Name: &d.Plan},
		Metro:           &metalv1.DeviceMetro{Code: &d.Metro, Name: &metroName},
		OperatingSystem: &metalv1.OperatingSystem{Slug: &d.OS, Name: &osInfo[0], Distro: &osInfo[1], Version: &osInfo[2]},
		ProjectLite:     &metalv1.DeviceProjectLite{Href: BasePath + "/projects/" + s.Project()},
	}
	if d.Userdata != "" {
		out.Userdata = &d.Userdata
	}
	if d.Desc != "" {
		out.Description = &d.Desc
	}
	for _, k := range d.Keys {
		out.SshKeys = append(out.SshKeys, metalv1.Href{Href: BasePath + "/ssh-keys/" + k})
	}
	if h, err := s.lab.Host(d.Hostname); err == nil {
		cfg := s.lab.Config()
		out.IpAddresses = []metalv1.IPAssignment{
			ip(h.Public.String(), cfg.Public.Bits(), true, cfg.Public.Masked().Addr().Next().String()),
			ip(h.Private.String(), cfg.Private.Bits(), false, ""),
		}
	}
	return out
}

func ip(addr string, bits int, public bool, gw string) metalv1.IPAssignment {
	fam, cidr, mgmt := int32(4), int32(bits), true
	a := metalv1.IPAssignment{Address: &addr, AddressFamily: &fam, Cidr: &cidr, Public: &public, Management: &mgmt}
	if gw != "" {
		a.Gateway = &gw
	}
	return a
}

func keys[V any](m map[string]V) string { return strings.Join(sortedKeys(m), ", ") }

func ptr[T any](v T) *T { return &v }
