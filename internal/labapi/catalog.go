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
	metros = map[string]string{
		"sv": "Silicon Valley", "da": "Dallas", "ny": "New York", "ch": "Chicago", "dc": "Washington DC",
		"la": "Los Angeles", "am": "Amsterdam", "fr": "Frankfurt", "ld": "London", "sg": "Singapore",
		"ty": "Tokyo", "sy": "Sydney",
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
