package testnode

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/haetae/haetae"
)

// Status reads GET /v1/status of the node at base.
func Status(tb testing.TB, base string) (*haetae.Status, error) {
	tb.Helper()
	r := Do(tb, "GET", base+"/v1/status", "", nil)
	if r.Status != 200 {
		return nil, fmt.Errorf("GET %s/v1/status: %d %s", base, r.Status, r.Body)
	}
	var st haetae.Status
	r.JSON(tb, &st)
	return &st, nil
}

// Incidents reads the incident history the node at base serves, without disk incidents: a test
// machine short of space adds those, and they are never a test's subject.
func Incidents(tb testing.TB, base string) ([]*haetae.Incident, error) {
	tb.Helper()
	r := Do(tb, "GET", base+"/v1/incidents?limit=1000", "", nil)
	if r.Status != 200 {
		return nil, fmt.Errorf("GET %s/v1/incidents: %d %s", base, r.Status, r.Body)
	}
	var out struct{ Incidents []*haetae.Incident }
	r.JSON(tb, &out)
	return slices.DeleteFunc(out.Incidents, func(inc *haetae.Incident) bool { return strings.HasPrefix(inc.Fault, "disk_full:") }), nil
}

// OfFault keeps the incidents of one fault ("dc_unreachable:dc3").
func OfFault(list []*haetae.Incident, fault string) []*haetae.Incident {
	var out []*haetae.Incident
	for _, inc := range list {
		if inc.Fault == fault {
			out = append(out, inc)
		}
	}
	return out
}

// Summary names each incident with its status (and ":local" while only one node has it), sorted, so
// two nodes' histories can be compared as strings.
func Summary(list []*haetae.Incident) string {
	var parts []string
	for _, inc := range list {
		p := inc.ID + ":" + inc.Status
		if inc.Local {
			p += ":local"
		}
		parts = append(parts, p)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
