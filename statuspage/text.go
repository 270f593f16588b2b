package statuspage

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/haetae/haetae"
)

// Text writes the page for a terminal: the same sections, with the 90 days of each bar squeezed into
// 30 columns of three days each (the worst day of the three shows). color adds ANSI colours.
func Text(w io.Writer, m *Model, color bool) error {
	p := &printer{w: w, color: color}
	st := m.Status
	where := "node " + st.Node
	if st.DC != "" {
		where = "data center " + st.DC + ", " + where
	}
	p.f("Haetae status, as seen from %s at %s\n\n", where, when(m.Now))
	p.f("%s\n", p.paint(st.Overall, strings.ToUpper(m.Headline)))
	if !st.Quorum {
		p.f("\n%s\n", p.paint(haetae.StateDegraded, "This data center is cut off from the majority: it refuses writes and serves what it has."))
		if st.QuorumProblem != "" {
			p.f("  (%s)\n", st.QuorumProblem)
		}
	}
	if m.Stale {
		if st.HistoryAsOf.IsZero() {
			p.f("The incident history could not be read yet.\n")
		} else {
			p.f("The incident history was last read at %s (%s ago).\n", when(st.HistoryAsOf), Duration(m.HistoryAge))
		}
	}
	if len(m.Open) > 0 {
		p.f("\nOPEN INCIDENTS\n")
		for _, inc := range m.Open {
			p.incident(inc, m.Now)
		}
	}
	if len(m.DCs) > 0 {
		p.f("\nDATA CENTERS\n")
		for _, d := range m.DCs {
			self := ""
			if d.Self {
				self = " (this one)"
			}
			last := ""
			if !d.Self {
				last = ", last heard " + ago(m.Now, d.LastSeen)
			}
			p.f("  %-12s %s%s%s\n", d.Name, p.paint(d.State, stateText(d.State)), self, last)
		}
	}
	p.f("\nUPTIME, LAST 90 DAYS (one column = 3 days; . no incident, ~ degraded, X outage)\n")
	for _, r := range append(append([]Row{}, m.Components...), m.DCs...) {
		p.f("  %-12s %s %8.3f%%  %s\n", r.Name, p.bar(r.Uptime.Days), r.Uptime.Percent, p.paint(r.State, stateText(r.State)))
	}
	p.f("\nPAST INCIDENTS\n")
	if len(m.Past) == 0 {
		p.f("  No incidents in the history.\n")
	}
	for _, inc := range m.Past {
		p.incident(inc, m.Now)
	}
	return p.err
}

type printer struct {
	w     io.Writer
	color bool
	err   error
}

func (p *printer) f(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

func (p *printer) paint(state, s string) string {
	if !p.color {
		return s
	}
	code := "32"
	switch state {
	case haetae.StateDegraded, haetae.StateNoQuorum, haetae.ImpactMinor:
		code = "33"
	case haetae.StateMajorOutage, haetae.StateUnreachable, haetae.ImpactMajor, haetae.ImpactCritical:
		code = "31"
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p *printer) bar(days []haetae.Day) string {
	var b strings.Builder
	for i := 0; i < len(days); i += 3 {
		worst := haetae.StateOperational
		for _, d := range days[i:min(i+3, len(days))] {
			if d.State == haetae.StateMajorOutage || d.State == haetae.StateDegraded && worst == haetae.StateOperational {
				worst = d.State
			}
		}
		switch worst {
		case haetae.StateMajorOutage:
			b.WriteString(p.paint(worst, "X"))
		case haetae.StateDegraded:
			b.WriteString(p.paint(worst, "~"))
		default:
			b.WriteString(p.paint(worst, "."))
		}
	}
	return b.String()
}

func (p *printer) incident(inc *haetae.Incident, now time.Time) {
	end := "ongoing"
	if inc.ResolvedAt != nil {
		end = when(*inc.ResolvedAt)
	}
	tags := inc.Status + ", " + inc.Impact
	if inc.Auto {
		tags += ", automatic"
	}
	if inc.Local {
		tags += ", seen here only"
	}
	p.f("\n  %s  [%s]\n", p.paint(inc.Impact, inc.Title), tags)
	p.f("    id %s · %s → %s\n", inc.ID, when(inc.StartedAt), end)
	if a := affectedText(inc, now); a != "" {
		p.f("    affected: %s\n", a)
	}
	if inc.Cause != "" {
		p.f("    cause: %s\n", inc.Cause)
	}
	for _, v := range inc.SeenBy {
		p.f("    seen now from %s (%s) since %s\n", v.DC, v.Node, when(v.Since))
	}
	for _, u := range inc.Updates {
		text := u.Text
		if text != "" {
			text = " — " + text
		}
		p.f("    %s  %s%s\n", when(u.At), u.Status, text)
	}
	if inc.Postmortem != "" {
		p.f("    postmortem: %s\n", inc.Postmortem)
	}
}
