package decode

import "gopkg.in/yaml.v3"

// NodeVisits decodes as Node does and says how many values it decoded.
func NodeVisits(file string, n *yaml.Node, out any, opts Options) (int, error) {
	d := newDecoder(file, opts)
	err := d.decode(n, out)
	return d.visits, err
}
