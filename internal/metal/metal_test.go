package metal

import (
	"strings"
	"testing"
)

// The client serves any Metal API, so what it asks for names the Metal
// API's settings, never a way to get them that only one deployment has.
func TestFromEnvSaysWhatToSet(t *testing.T) {
	for _, tc := range []struct {
		token, project string
		want           []string
	}{
		{"", "p", []string{"METAL_AUTH_TOKEN is not set", "METAL_API_URL", DefaultURL}},
		{"t", "", []string{"no Metal project", "project:", "METAL_PROJECT_ID"}},
	} {
		t.Setenv("METAL_AUTH_TOKEN", tc.token)
		t.Setenv("METAL_PROJECT_ID", "")
		_, err := FromEnv(tc.project)
		if err == nil {
			t.Fatalf("token %q, project %q: no error", tc.token, tc.project)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q lacks %q", err, w)
			}
		}
		if strings.Contains(err.Error(), "lab") {
			t.Errorf("%q sends the user to the lab", err)
		}
	}
}
