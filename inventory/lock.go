package inventory

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// RunLock is an inventory's `lock:` setting: runs that change its hosts
// (`apply` without --check) hold this lock from start to end, so two
// operators' runs on one fleet do not interleave. Any plugin's file may
// have it:
//
//	lock:
//	  consul:
//	    key: runbook/locks/prod      # required
//	    address: 127.0.0.1:8500      # default $CONSUL_HTTP_ADDR, then 127.0.0.1:8500
//	    ttl: 15s                     # the session's TTL, 10s to 24h
//
// The token comes from $CONSUL_HTTP_TOKEN, TLS settings from Consul's own
// environment variables ($CONSUL_CACERT, ...), never from the inventory.
type RunLock struct {
	File   string
	Pos    decode.Pos // of the `lock:` key, for messages
	Consul ConsulLock
}

// ConsulLock is a lock held through Consul's lock API: a key acquired by
// a session that the holder renews.
type ConsulLock struct {
	Key     string        `yaml:"key" required:"true" doc:"the KV key that is the lock, e.g. runbook/locks/prod"`
	Address string        `yaml:"address" doc:"the Consul agent's HTTP API, host:port or a URL; default $CONSUL_HTTP_ADDR, then 127.0.0.1:8500"`
	TTL     time.Duration `yaml:"ttl" doc:"the session's TTL: a holder that stops renewing it loses the lock this long after (Consul may take twice as long); 10s to 24h, default 15s"`
}

type lockFile struct {
	Consul *ConsulLock `yaml:"consul" doc:"hold the lock in Consul"`
}

// DefaultLockTTL is the Consul session's TTL when the inventory sets none.
const DefaultLockTTL = 15 * time.Second

// cutRunLock takes the top-level `lock:` key out of doc, so that the
// plugin decoding the rest need not know it, and decodes it.
func cutRunLock(file string, doc *yaml.Node) (*RunLock, error) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := root.Content[i], root.Content[i+1]
		if kn.Value != "lock" {
			continue
		}
		root.Content = append(root.Content[:i:i], root.Content[i+2:]...)
		var lf lockFile
		if err := decode.Node(file, vn, &lf, decode.Options{}); err != nil {
			return nil, err
		}
		if lf.Consul == nil {
			return nil, decode.Errorf(decode.At(file, vn), "lock: say where the lock is held: consul: {key: runbook/locks/NAME}")
		}
		c := lf.Consul
		cn := cmp.Or(decode.Value(vn, "consul"), vn)
		var errs decode.List
		if k := c.Key; strings.HasPrefix(k, "/") || strings.TrimSpace(k) != k || k == "" {
			errs.Add(decode.Errorf(decode.At(file, cmp.Or(decode.Value(cn, "key"), cn)), "lock: consul: key %s: want a KV path such as runbook/locks/prod, without a leading /", decode.Quote(k)))
		}
		switch {
		case c.TTL == 0:
			c.TTL = DefaultLockTTL
		case c.TTL < 10*time.Second || c.TTL > 24*time.Hour:
			errs.Add(decode.Errorf(decode.At(file, cmp.Or(decode.Value(cn, "ttl"), cn)), "lock: consul: ttl %s: Consul takes 10s to 24h", c.TTL))
		}
		if err := errs.Err(); err != nil {
			return nil, err
		}
		return &RunLock{File: file, Pos: decode.At(file, kn), Consul: *c}, nil
	}
	return nil, nil
}

// String names the lock for messages.
func (l *RunLock) String() string {
	return fmt.Sprintf("run lock %s in Consul (%s)", l.Consul.Key, l.Pos)
}

// lockedProvider is a provider whose file asks for a run lock.
type lockedProvider struct {
	Provider
	lock *RunLock
}

// RunLocks lists the run locks the inventories ask for.
func (s Sources) RunLocks() []*RunLock {
	var out []*RunLock
	for _, p := range s {
		switch lp := p.(type) {
		case lockedProvider:
			out = append(out, lp.lock)
		case dirSource:
			out = append(out, Sources(lp.parts).RunLocks()...)
		}
	}
	return out
}
