package pki

import (
	"crypto/x509"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Request is what a leaf certificate is for, as tls_cert asks for it.
type Request struct {
	DNSNames []string // lower case, each once, in the order asked: the first is the subject's CN
	IPs      []net.IP
	Days     int // validity; CertDays by default
}

const wantName = "want at least one DNS name or IP address for the certificate, such as \"server.dc1.consul\" \"localhost\" \"127.0.0.1\""

// dnsName is a host name, or a wildcard one (*.example.com).
var dnsName = regexp.MustCompile(`^(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$`)

// ParseRequest reads what tls_cert takes after the names of the CA and of
// the certificate: DNS names and IP addresses (told apart by their form),
// and days=N.
func ParseRequest(args []string) (Request, error) {
	r := Request{Days: CertDays}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			if k != "days" {
				return Request{}, fmt.Errorf("%q: a certificate takes days=N beside its DNS names and IP addresses", a)
			}
			n, err := days(a, v)
			if err != nil {
				return Request{}, err
			}
			r.Days = n
			continue
		}
		if ip := net.ParseIP(a); ip != nil {
			if !slices.ContainsFunc(r.IPs, ip.Equal) {
				r.IPs = append(r.IPs, ip)
			}
			continue
		}
		name := strings.ToLower(a)
		if len(name) > 253 || !dnsName.MatchString(name) {
			return Request{}, fmt.Errorf("%q is neither a DNS name nor an IP address", a)
		}
		if !slices.Contains(r.DNSNames, name) {
			r.DNSNames = append(r.DNSNames, name)
		}
	}
	if len(r.DNSNames)+len(r.IPs) == 0 {
		return Request{}, fmt.Errorf("%s", wantName)
	}
	return r, nil
}

// ParseCAOptions reads what tls_ca takes after the CA's name: cn=NAME
// and days=N.
func ParseCAOptions(args []string) (CAOptions, error) {
	var o CAOptions
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "cn":
			if strings.TrimSpace(v) == "" {
				return CAOptions{}, fmt.Errorf("%q: want a name after cn=", a)
			}
			o.CN = v
		case "days":
			n, err := days(a, v)
			if err != nil {
				return CAOptions{}, err
			}
			o.Days = n
		default:
			return CAOptions{}, fmt.Errorf("%q: a CA takes cn=NAME and days=N beside its name", a)
		}
	}
	return o, nil
}

func days(arg, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 36500 {
		return 0, fmt.Errorf("%q: want a number of days from 1 to 36500", arg)
	}
	return n, nil
}

// String names what r is for, the same whatever the order asked:
// "DNS:localhost, DNS:server.dc1.consul, IP:127.0.0.1". Days are not part
// of it.
func (r Request) String() string {
	var out []string
	for _, n := range r.DNSNames {
		out = append(out, "DNS:"+strings.ToLower(n))
	}
	slices.Sort(out)
	var ips []string
	for _, ip := range r.IPs {
		ips = append(ips, "IP:"+ip.String())
	}
	slices.Sort(ips)
	return strings.Join(slices.Compact(append(out, ips...)), ", ")
}

// requestOf is what the certificate c is for.
func requestOf(c *x509.Certificate) Request {
	return Request{DNSNames: c.DNSNames, IPs: c.IPAddresses}
}
