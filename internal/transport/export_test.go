package transport

// SetSFTPServers replaces where sftp-server is looked for, until the
// returned function puts it back.
func SetSFTPServers(paths []string) (restore func()) {
	old := sftpServers
	sftpServers = paths
	return func() { sftpServers = old }
}
