package labapi

import "github.com/runbookdev/runbook/internal/lab"

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
