// Package statuspage renders the status page: the HTML page every node serves at /status (one
// request besides its own stylesheet, no JavaScript, no login) and the same content for a terminal
// (`haetae status`). It turns a status and the incident history into what people read; it computes
// nothing of its own beyond presentation (uptime comes from the domain) and must not do I/O besides
// writing its output.
package statuspage

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/haetae/haetae"
)

//go:embed page.html style.css
var files embed.FS

// CSS is the page's stylesheet, served at /status.css.
var CSS, _ = files.ReadFile("style.css")

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"when":         when,
	"ago":          ago,
	"dur":          Duration,
	"stateText":    stateText,
	"lower":        strings.ToLower,
	"pct":          func(p float64) string { return fmt.Sprintf("%.3f%%", p) },
	"dayTitle":     dayTitle,
	"affected":     func(inc *haetae.Incident, now time.Time) string { return affectedText(inc, now) },
	"incidentArgs": func(inc *haetae.Incident, now time.Time) incidentArgs { return incidentArgs{inc, now} },
}).ParseFS(files, "page.html"))

type incidentArgs struct {
	Inc *haetae.Incident
	Now time.Time
}

// Days is how many days of uptime the page shows.
const Days = 90

// Model is what the page shows.
type Model struct {
	Status     *haetae.Status
	Headline   string
	Components []Row
	DCs        []Row
	Open       []*haetae.Incident
	Past       []*haetae.Incident
	// HistoryAge is how old the history is; Stale when it is old enough to say so.
	HistoryAge time.Duration
	Stale      bool
	Now        time.Time
	// CSS is the stylesheet's path, versioned so browsers refetch it after an upgrade.
	CSS string
}

// Row is a component or a data center with its uptime bar.
type Row struct {
	Name     string
	State    string
	Self     bool
	LastSeen time.Time
	Uptime   haetae.Uptime
}

// PastLimit is how many resolved incidents the page lists.
const PastLimit = 30

// Build makes the page's model from a node's status and its history (newest first).
func Build(st *haetae.Status, history []*haetae.Incident, now time.Time) *Model {
	m := &Model{Status: st, Now: now.UTC(), HistoryAge: st.HistoryAge(), CSS: "/status.css"}
	m.Stale = !st.Quorum || m.HistoryAge > 10*time.Second
	switch st.Overall {
	case haetae.StateOperational:
		m.Headline = "All systems operational"
	case haetae.StateDegraded:
		m.Headline = "Degraded service"
	default:
		m.Headline = "Major outage"
	}
	for _, c := range st.Components {
		m.Components = append(m.Components, Row{Name: c.Name, State: c.State, Uptime: haetae.UptimeDays(c.Name, history, Days, now)})
	}
	for _, d := range st.DCs {
		m.DCs = append(m.DCs, Row{Name: d.Name, State: d.State, Self: d.Self, LastSeen: d.LastSeen, Uptime: dcUptime(d.Name, history, now)})
	}
	m.Open = st.OpenIncidents
	for _, inc := range history {
		if !inc.Open() && len(m.Past) < PastLimit {
			m.Past = append(m.Past, inc)
		}
	}
	return m
}

// dcUptime is a data center's record: the incidents that name it count against it.
func dcUptime(dc string, history []*haetae.Incident, now time.Time) haetae.Uptime {
	var mine []*haetae.Incident
	for _, inc := range history {
		if slices.Contains(inc.DCs, dc) {
			c := *inc
			c.Components = []string{"dc:" + dc}
			c.Updates = nil
			mine = append(mine, &c)
		}
	}
	u := haetae.UptimeDays("dc:"+dc, mine, Days, now)
	u.Component = dc
	return u
}

// Render writes the HTML page.
func Render(w io.Writer, m *Model) error { return page.Execute(w, m) }

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return Duration(now.Sub(t)) + " ago"
}

// Duration says a span the way people do: "3 s", "12 min", "2 h 5 min", "3 d 4 h".
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0 s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	default:
		days, h := int(d.Hours())/24, int(d.Hours())%24
		if h == 0 {
			return fmt.Sprintf("%d d", days)
		}
		return fmt.Sprintf("%d d %d h", days, h)
	}
}

func stateText(s string) string {
	switch s {
	case haetae.StateOperational:
		return "Operational"
	case haetae.StateDegraded:
		return "Degraded"
	case haetae.StateMajorOutage:
		return "Major outage"
	case haetae.StateUnreachable:
		return "Unreachable"
	case haetae.StateNoQuorum:
		return "Cut off (no quorum)"
	}
	return s
}

func dayTitle(d haetae.Day) string {
	s := d.Date + ": "
	switch {
	case d.Down > 0:
		s += "down " + Duration(d.Down)
		if d.Degraded > 0 {
			s += ", degraded " + Duration(d.Degraded)
		}
	case d.Degraded > 0:
		s += "degraded " + Duration(d.Degraded)
	default:
		s += "no incidents"
	}
	if len(d.Incidents) > 0 {
		s += " (" + strings.Join(d.Incidents, ", ") + ")"
	}
	return s
}

// affectedText says how long each component was affected, naming components with the same time
// together: "accounts, messaging: 2 h; live: 40 min".
func affectedText(inc *haetae.Incident, now time.Time) string {
	var order []string
	names := map[string][]string{}
	for _, a := range haetae.AffectedDurations(inc, now) {
		d := Duration(time.Duration(a.Seconds) * time.Second)
		if names[d] == nil {
			order = append(order, d)
		}
		names[d] = append(names[d], a.Component)
	}
	var parts []string
	for _, d := range order {
		parts = append(parts, strings.Join(names[d], ", ")+": "+d)
	}
	return strings.Join(parts, "; ")
}
