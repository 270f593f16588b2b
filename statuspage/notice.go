package statuspage

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/haetae/haetae"
)

// Notice writes the notice users are sent about one incident: what failed and why, for how long each
// part of the service was affected, and what they are owed under the compensation policy.
func Notice(w io.Writer, inc *haetae.Incident, p haetae.CompensationPolicy, now time.Time) error {
	pr := &printer{w: w}
	pr.f("NOTICE OF SERVICE DISRUPTION — HAETAE\n\n")
	pr.f("Incident:   %s (%s)\n", inc.Title, inc.ID)
	pr.f("Impact:     %s\n", inc.Impact)
	end := "ongoing (figures below are as of " + when(now) + " and will grow)"
	if inc.ResolvedAt != nil {
		end = when(*inc.ResolvedAt)
	}
	pr.f("From:       %s\nTo:         %s\n", when(inc.StartedAt), end)
	if len(inc.DCs) > 0 {
		pr.f("Where:      data center %s\n", strings.Join(inc.DCs, ", "))
	}
	if inc.Cause != "" {
		pr.f("\nWhat happened\n  %s\n", inc.Cause)
	}
	if inc.Postmortem != "" {
		pr.f("\nWhat we changed\n  %s\n", inc.Postmortem)
	}
	pr.f("\nAffected time\n")
	comps := haetae.Compensate(p, inc, now)
	if len(comps) == 0 {
		pr.f("  none\n")
	}
	for _, c := range comps {
		pr.f("  %-10s %s\n", c.Component, Duration(c.Affected))
	}
	pr.f("\nCompensation\n")
	pr.f("  Policy: an outage (impact %s or worse) longer than %s is compensated with %s times the\n"+
		"  affected time as service credit%s.\n", p.MinImpact, Duration(p.After), trimFloat(p.Multiple), feeText(p))
	// A user of several affected components is owed once: for the longest outage.
	var best *haetae.Compensation
	for i, c := range comps {
		if c.Owed && (best == nil || c.Credit > best.Credit) {
			best = &comps[i]
		}
	}
	owed := best != nil
	if owed {
		s := Duration(best.Credit) + " of service credit"
		if best.Won > 0 {
			s += fmt.Sprintf(" and %s won", thousands(best.Won))
		}
		pr.f("  Owed to each user: %s (for the longest outage: %s, %s).\n", s, best.Component, Duration(best.Affected))
	}
	if !owed {
		reason := fmt.Sprintf("no part of the service was out longer than %s", Duration(p.After))
		if len(comps) > 0 && !atLeast(inc.Impact, p.MinImpact) {
			reason = fmt.Sprintf("the incident's impact (%s) is below an outage (%s)", inc.Impact, p.MinImpact)
		}
		pr.f("  Nothing is owed: %s.\n", reason)
	}
	if inc.Open() {
		pr.f("\nThe incident is not resolved yet; this notice is provisional.\n")
	}
	return pr.err
}

func atLeast(impact, min string) bool {
	rank := map[string]int{haetae.ImpactMinor: 1, haetae.ImpactMajor: 2, haetae.ImpactCritical: 3}
	return rank[impact] >= rank[min]
}

func feeText(p haetae.CompensationPolicy) string {
	if p.MonthlyFeeWon == 0 {
		return ""
	}
	return fmt.Sprintf(", and %s times the fee of that time (monthly fee %d won)", trimFloat(p.Multiple), p.MonthlyFeeWon)
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
}

// thousands writes n with commas: 238,763.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
