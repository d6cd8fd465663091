package sshconfig

// HomeDir is the home directory that ~ and %d expand to.
var HomeDir = homeDir
