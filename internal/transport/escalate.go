package transport

import "context"

// Escalation says how a connection acts as another user: Become's view of
// a connection runs its commands, file servers and lock shells through it.
type Escalation struct {
	User string // the user to act as; "" is root
}

// user is the user acted as.
func (e *Escalation) user() string {
	if e.User == "" {
		return "root"
	}
	return e.User
}

// key tells apart what is started for different escalations, to keep one
// file server and idle lock shells per escalation; "" is the login user.
func (e *Escalation) key() string {
	if e == nil {
		return ""
	}
	return e.user()
}

// wrap is cmd run as the user, through sudo without a password.
func (e *Escalation) wrap(cmd string) string {
	return "sudo -n -H -u " + quote(e.user()) + " -- " + cmd
}

// starter starts a command with streams for its input and output (see
// pipe): a session on the host, or a process on the controller.
type starter func(cmd string) (*pipe, error)

// startAs starts cmd through start as the user as says, or as the login
// user when as is nil.
func startAs(ctx context.Context, start starter, as *Escalation, cmd string) (*pipe, error) {
	if as == nil {
		return start(cmd)
	}
	return start(as.wrap(cmd))
}
