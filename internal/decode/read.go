package decode

import (
	"fmt"
	"io"
	"os"
)

// MaxFile is the size of the largest runbook, inventory, variable or
// template file runbook reads: each is read whole, so a path given by
// mistake (a disk image, /dev/zero) must not fill the controller's memory.
const MaxFile = 16 << 20

// ReadFile reads a file of runbook's (see MaxFile).
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFile {
		return nil, fmt.Errorf("%s is larger than %d MiB: is it the file you meant?", path, MaxFile>>20)
	}
	return data, nil
}
