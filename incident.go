package haetae

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Incident impacts, from least to most severe.
const (
	ImpactMinor    = "minor"
	ImpactMajor    = "major"
	ImpactCritical = "critical"
)

// Incident stages. People move an incident through them in this order (skipping is allowed, going back
// is not); an automatic incident is investigating from the moment it opens until its cause is gone.
const (
	StageInvestigating = "investigating"
	StageIdentified    = "identified"
	StageMonitoring    = "monitoring"
	StageResolved      = "resolved"
)

// States of a component, a data center and the whole service.
const (
	StateOperational = "operational"
	StateDegraded    = "degraded"
	StateMajorOutage = "major_outage"
	// StateUnreachable is a data center this node has not heard from (DCs only).
	StateUnreachable = "unreachable"
	// StateNoQuorum is a data center cut off from the majority: it serves reads but refuses writes.
	StateNoQuorum = "no_quorum"
)

// Components are the parts of the service the status page reports on, in the order it shows them.
// Incidents name the components they affect; uptime is computed per component.
const (
	ComponentAccounts  = "accounts"
	ComponentMessaging = "messaging"
	ComponentLive      = "live"
	ComponentGifts     = "gifts"
	// ComponentRentals: incidents of major or critical impact that name it are excluded from rental
	// billing (IncidentDowntime).
	ComponentRentals = "rentals"
)

// DefaultComponents are the components a node reports on unless configured otherwise.
var DefaultComponents = []string{ComponentAccounts, ComponentMessaging, ComponentLive, ComponentGifts, ComponentRentals}

// Incident is one fault of the platform, opened by a node that saw it (Auto) or by a person.
//
// An automatic incident carries the identity of its fault (Fault, such as "dc_unreachable:dc2"); every
// node that sees the same fault joins the same incident, so three nodes watching one data center die
// make one incident that lists three views (SeenBy), not three incidents.
type Incident struct {
	ID         string     `json:"id"`
	Title      string     `json:"title"`
	Impact     string     `json:"impact"`
	Status     string     `json:"status"`
	Components []string   `json:"components"`
	Cause      string     `json:"cause"`
	StartedAt  time.Time  `json:"started_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	Auto       bool       `json:"auto"`
	Updates    []Update   `json:"updates"`

	// DCs names the data centers the incident concerns, if any.
	DCs []string `json:"dcs,omitempty"`
	// Fault is the identity of an automatic incident's fault; empty for people's incidents.
	Fault string `json:"fault,omitempty"`
	// SeenBy lists the nodes that see the fault now, each with its data center and since when (from its
	// own view). An automatic incident resolves when the last of them no longer sees it.
	SeenBy []View `json:"seen_by,omitempty"`
	// Postmortem is what people wrote once the incident was over.
	Postmortem string `json:"postmortem,omitempty"`
	// Affected is the time each component was affected, filled in by GET /v1/incidents/{id}.
	Affected []Affected `json:"affected,omitempty"`
	// Local marks an incident this node saw while it could not write the replicated history: it is
	// kept on this node and merged into the history when the node reaches a majority again.
	Local bool `json:"local,omitempty"`
}

// Update is one step of an incident's story.
type Update struct {
	At     time.Time `json:"at"`
	Status string    `json:"status"`
	Text   string    `json:"text"`
	// Components, when set, replaces the incident's affected components from this update on.
	Components []string `json:"components,omitempty"`
	// By names the node (for automatic updates) or "admin".
	By string `json:"by,omitempty"`
}

// View is one node's sighting of an automatic incident's fault.
type View struct {
	Node  string    `json:"node"`
	DC    string    `json:"dc,omitempty"`
	Since time.Time `json:"since"`
}

// Affected is how long one component was affected by an incident.
type Affected struct {
	Component string    `json:"component"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Seconds   int64     `json:"seconds"`
}

// Open reports whether the incident is not resolved yet.
func (inc *Incident) Open() bool { return inc.Status != StageResolved }

// Fault is a trouble a detector sees now, which the incident history turns into an incident.
type Fault struct {
	// Key is the fault's identity, the same on every node that can see it: "dc_unreachable:dc2".
	Key        string
	Title      string
	Impact     string
	Components []string
	DCs        []string
	Cause      string
	// Since is when the trouble began as far as this node can tell (the last time it heard from the
	// lost DC, say), which may be earlier than when it was detected.
	Since time.Time
}

// ComponentState is one component's state now.
type ComponentState struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// DCState is one data center as the answering node sees it.
type DCState struct {
	Name     string    `json:"name"`
	State    string    `json:"state"`
	LastSeen time.Time `json:"last_seen"`
	// Self marks the answering node's own data center.
	Self bool `json:"self,omitempty"`
}

// Status is the platform's state as one node sees it now. Every node answers it from what it has,
// without a majority: a node cut off from the others says so (Quorum false) and how old its copy of the
// history is.
type Status struct {
	Overall       string           `json:"overall"`
	DCs           []DCState        `json:"dcs"`
	Components    []ComponentState `json:"components"`
	OpenIncidents []*Incident      `json:"open_incidents"`

	// Node and DC name the node that answered.
	Node string `json:"node"`
	DC   string `json:"dc,omitempty"`
	// Quorum says whether that node reaches a majority (can take writes).
	Quorum bool `json:"quorum"`
	// QuorumProblem says why not, when it does not.
	QuorumProblem string `json:"quorum_problem,omitempty"`
	// At is when the answer was made; HistoryAsOf when the node last read the replicated history, so
	// At − HistoryAsOf is how old the history it serves may be.
	At          time.Time `json:"at"`
	HistoryAsOf time.Time `json:"history_as_of"`
}

// HistoryAge is how old the history behind a status may be.
func (s *Status) HistoryAge() time.Duration {
	if s.HistoryAsOf.IsZero() {
		return 0
	}
	return s.At.Sub(s.HistoryAsOf)
}

// NewIncident is what a person gives to open an incident.
type NewIncident struct {
	Title      string   `json:"title"`
	Impact     string   `json:"impact"`
	Status     string   `json:"status"`
	Components []string `json:"components"`
	Cause      string   `json:"cause"`
	Text       string   `json:"text"`
	// StartedAt, when set, backdates the incident (it began before anyone wrote it down).
	StartedAt *time.Time `json:"started_at"`
}

// NewUpdate is what a person gives to move an incident on.
type NewUpdate struct {
	Status     string   `json:"status"`
	Text       string   `json:"text"`
	Components []string `json:"components"`
	Postmortem string   `json:"postmortem"`
}

// Webhook is a subscriber to incident changes. Its secret signs each delivery and is never shown again.
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// IncidentService keeps the incident history and answers the status. Reads need no login and no
// majority: a node cut off from the others answers from what it has and says how old it is.
type IncidentService interface {
	// Status is the platform's state as this node sees it now. Errors: none but internal.
	Status(ctx context.Context) (*Status, error)
	// Incidents returns the history, newest first, at most limit (0: all). Errors: invalid.
	Incidents(ctx context.Context, limit int) ([]*Incident, error)
	// Incident returns one incident with its affected time per component. Errors: not_found.
	Incident(ctx context.Context, id string) (*Incident, error)
	// CreateIncident opens a person's incident. Errors: invalid, unavailable, no_quorum.
	CreateIncident(ctx context.Context, n NewIncident) (*Incident, error)
	// AddUpdate adds a person's update to an incident. Errors: not_found, invalid, conflict (the stage
	// would go back, or the incident is resolved and the update is not a postmortem), unavailable.
	AddUpdate(ctx context.Context, id string, u NewUpdate) (*Incident, error)
	// AddWebhook registers a subscriber; its secret is returned once. Errors: invalid, unavailable.
	AddWebhook(ctx context.Context, rawURL, secret string) (*Webhook, error)
	// Webhooks lists the subscribers, without their secrets. Errors: unavailable.
	Webhooks(ctx context.Context) ([]*Webhook, error)
	// DeleteWebhook removes a subscriber. Errors: not_found, unavailable.
	DeleteWebhook(ctx context.Context, id string) error
}

var impactRank = map[string]int{ImpactMinor: 1, ImpactMajor: 2, ImpactCritical: 3}
var stageRank = map[string]int{StageInvestigating: 1, StageIdentified: 2, StageMonitoring: 3, StageResolved: 4}
var stateRank = map[string]int{StateOperational: 0, StateDegraded: 1, StateMajorOutage: 2}

// ImpactState is the state an open incident of an impact puts its components in: minor and major
// incidents degrade them (the service works, worse or for some); a critical one is a major outage.
func ImpactState(impact string) string {
	if impact == ImpactCritical {
		return StateMajorOutage
	}
	return StateDegraded
}

// ValidNewIncident checks a person's incident against the known components.
func ValidNewIncident(n NewIncident, components []string) error {
	if err := validLine("title", n.Title, 1, 200); err != nil {
		return err
	}
	if _, ok := impactRank[n.Impact]; !ok {
		return Errorf(EInvalid, "impact is minor, major or critical")
	}
	if n.Status == "" {
		n.Status = StageInvestigating
	}
	if _, ok := stageRank[n.Status]; !ok || n.Status == StageResolved {
		return Errorf(EInvalid, "status of a new incident is investigating, identified or monitoring")
	}
	if len(n.Components) == 0 {
		return Errorf(EInvalid, "components names at least one of %s", strings.Join(components, ", "))
	}
	if err := validComponents(n.Components, components); err != nil {
		return err
	}
	if err := validText("cause", n.Cause, 0, 2000); err != nil {
		return err
	}
	return validText("text", n.Text, 0, 4000)
}

// ValidNewUpdate checks a person's update of inc: a known stage that does not go back, and a text.
// A resolved incident takes only a postmortem (status resolved again).
func ValidNewUpdate(inc *Incident, u NewUpdate, components []string) error {
	if _, ok := stageRank[u.Status]; !ok {
		return Errorf(EInvalid, "status is investigating, identified, monitoring or resolved")
	}
	if stageRank[u.Status] < stageRank[inc.Status] {
		return Errorf(EConflict, "the incident is %s; an update cannot move it back to %s", inc.Status, u.Status)
	}
	if !inc.Open() && u.Postmortem == "" {
		return Errorf(EConflict, "the incident is resolved; it takes only a postmortem now")
	}
	if u.Text == "" && u.Postmortem == "" {
		return Errorf(EInvalid, "an update needs a text or a postmortem")
	}
	if err := validText("text", u.Text, 0, 4000); err != nil {
		return err
	}
	if err := validText("postmortem", u.Postmortem, 0, 20000); err != nil {
		return err
	}
	return validComponents(u.Components, components)
}

func validComponents(list, known []string) error {
	for _, c := range list {
		if !slices.Contains(known, c) {
			return Errorf(EInvalid, "unknown component %q; the components are %s", c, strings.Join(known, ", "))
		}
	}
	return nil
}

func validLine(field, s string, minLen, maxLen int) error {
	if err := validText(field, s, minLen, maxLen); err != nil {
		return err
	}
	if strings.ContainsAny(s, "\r\n") {
		return Errorf(EInvalid, "%s is one line", field)
	}
	return nil
}

func validText(field, s string, minLen, maxLen int) error {
	if !utf8.ValidString(s) {
		return Errorf(EInvalidUTF8, "%s is not valid UTF-8", field)
	}
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	if n < minLen || utf8.RuneCountInString(s) > maxLen {
		return Errorf(EInvalid, "%s is %d to %d characters", field, minLen, maxLen)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return Errorf(EInvalid, "%s has no control characters", field)
		}
	}
	return nil
}

// ValidWebhookURL checks a subscriber's URL: absolute http or https.
func ValidWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 2000 {
		return Errorf(EInvalid, "a webhook url is an absolute http or https URL of at most 2000 characters")
	}
	return nil
}

// ApplyUpdate adds a person's update to inc (checked by [ValidNewUpdate]) at time at.
func ApplyUpdate(inc *Incident, u NewUpdate, at time.Time) {
	if u.Text != "" || u.Status != inc.Status || len(u.Components) > 0 {
		inc.Updates = append(inc.Updates, Update{At: at, Status: u.Status, Text: u.Text, Components: u.Components, By: "admin"})
	}
	if len(u.Components) > 0 {
		inc.Components = slices.Clone(u.Components)
	}
	if u.Status == StageResolved && inc.Open() {
		t := at
		inc.ResolvedAt = &t
	}
	inc.Status = u.Status
	if u.Postmortem != "" {
		inc.Postmortem = u.Postmortem
	}
}

// SortIncidents orders incidents newest first (by start, then id), the order of every list.
func SortIncidents(list []*Incident) {
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].StartedAt.Equal(list[j].StartedAt) {
			return list[i].StartedAt.After(list[j].StartedAt)
		}
		return list[i].ID > list[j].ID
	})
}

// ComponentStates is the state of each component given the open incidents: the worst any of them puts
// it in, operational if none names it.
func ComponentStates(components []string, incidents []*Incident) []ComponentState {
	out := make([]ComponentState, 0, len(components))
	for _, c := range components {
		state := StateOperational
		for _, inc := range incidents {
			if inc.Open() && slices.Contains(inc.Components, c) {
				if s := ImpactState(inc.Impact); stateRank[s] > stateRank[state] {
					state = s
				}
			}
		}
		out = append(out, ComponentState{Name: c, State: state})
	}
	return out
}

// Overall is the service's state from its components and data centers: a major outage if a component
// is out; degraded if a component is degraded or a data center is not fully there; else operational.
func Overall(components []ComponentState, dcs []DCState) string {
	overall := StateOperational
	for _, c := range components {
		if stateRank[c.State] > stateRank[overall] {
			overall = c.State
		}
	}
	if overall == StateOperational {
		for _, d := range dcs {
			if d.State != StateOperational {
				return StateDegraded
			}
		}
	}
	return overall
}

// Interval is a span of time.
type Interval struct {
	From, To time.Time
}

// AffectedIntervals is when inc affected component: from the start (or the update that added the
// component) to the resolution (or the update that removed it), with now standing in for the end of an
// open incident. Rental billing excludes these spans; uptime counts them as down.
func AffectedIntervals(inc *Incident, component string, now time.Time) []Interval {
	end := now
	if inc.ResolvedAt != nil {
		end = *inc.ResolvedAt
	}
	// The components in force from the start are those of the first update that names any (the
	// opening one); later updates that name components change the set from their time on.
	initial, first := inc.Components, -1
	for i, u := range inc.Updates {
		if len(u.Components) > 0 {
			initial, first = u.Components, i
			break
		}
	}
	var out []Interval
	in := slices.Contains(initial, component)
	from := inc.StartedAt
	for i, u := range inc.Updates {
		if i <= first || len(u.Components) == 0 || u.At.After(end) {
			continue
		}
		now := slices.Contains(u.Components, component)
		switch {
		case in && !now:
			out = appendInterval(out, from, u.At)
		case !in && now:
			from = u.At
		}
		in = now
	}
	if in {
		out = appendInterval(out, from, end)
	}
	return out
}

func appendInterval(out []Interval, from, to time.Time) []Interval {
	if to.After(from) {
		out = append(out, Interval{from, to})
	}
	return out
}

// AffectedDurations is, for each component inc names (now or ever), how long it was affected.
func AffectedDurations(inc *Incident, now time.Time) []Affected {
	var names []string
	add := func(list []string) {
		for _, c := range list {
			if !slices.Contains(names, c) {
				names = append(names, c)
			}
		}
	}
	add(inc.Components)
	for _, u := range inc.Updates {
		add(u.Components)
	}
	out := []Affected{}
	for _, c := range names {
		ivs := AffectedIntervals(inc, c, now)
		if len(ivs) == 0 {
			continue
		}
		var total time.Duration
		for _, iv := range ivs {
			total += iv.To.Sub(iv.From)
		}
		out = append(out, Affected{Component: c, From: ivs[0].From, To: ivs[len(ivs)-1].To, Seconds: int64(total / time.Second)})
	}
	return out
}

// Day is one day of a component's uptime bar.
type Day struct {
	Date string // 2006-01-02, in UTC
	// State is the worst the component was in that day: operational, degraded or major_outage.
	State string
	// Down is how long it was out (major or critical incidents); Degraded how long it was degraded
	// (minor incidents) and not out.
	Down, Degraded time.Duration
	// Incidents are the ids of the incidents that touched the day.
	Incidents []string
}

// Uptime is a component's record over a span of days.
type Uptime struct {
	Component string
	Days      []Day // oldest first
	// Percent is the share of the span the component was not out, 0–100.
	Percent float64
}

// UptimeDays is the record of component over the days days ending today (UTC), from the history:
// time inside a major or critical incident that names the component is down time; time inside only
// minor ones is degraded and still counts as up. It is computed, never stored.
func UptimeDays(component string, incidents []*Incident, days int, now time.Time) Uptime {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	start := today.AddDate(0, 0, -(days - 1))
	var down, degraded []Interval
	ids := map[int][]string{}
	for _, inc := range incidents {
		for _, iv := range AffectedIntervals(inc, component, now) {
			if iv.To.Before(start) {
				continue
			}
			if ImpactState(inc.Impact) == StateMajorOutage || inc.Impact == ImpactMajor {
				down = append(down, iv)
			} else {
				degraded = append(degraded, iv)
			}
			for d := 0; d < days; d++ {
				ds := start.AddDate(0, 0, d)
				if iv.From.Before(ds.AddDate(0, 0, 1)) && iv.To.After(ds) && !slices.Contains(ids[d], inc.ID) {
					ids[d] = append(ids[d], inc.ID)
				}
			}
		}
	}
	down, degraded = MergeIntervals(down), MergeIntervals(degraded)
	u := Uptime{Component: component}
	var totalDown, span time.Duration
	for d := 0; d < days; d++ {
		ds := start.AddDate(0, 0, d)
		de := ds.AddDate(0, 0, 1)
		if de.After(now) {
			de = now
		}
		span += de.Sub(ds)
		day := Day{Date: ds.Format("2006-01-02"), State: StateOperational, Incidents: ids[d]}
		day.Down = overlap(down, ds, de)
		day.Degraded = overlap(degraded, ds, de) - overlapBoth(down, degraded, ds, de)
		if day.Degraded < 0 {
			day.Degraded = 0
		}
		switch {
		case day.Down > 0:
			day.State = StateMajorOutage
		case day.Degraded > 0:
			day.State = StateDegraded
		}
		totalDown += day.Down
		u.Days = append(u.Days, day)
	}
	u.Percent = 100
	if span > 0 {
		u.Percent = math.Max(0, 100*(1-float64(totalDown)/float64(span)))
	}
	return u
}

// overlap is how much of [from, to) the (disjoint) intervals cover.
func overlap(ivs []Interval, from, to time.Time) time.Duration {
	var d time.Duration
	for _, iv := range ivs {
		if a, b, ok := clip(iv, from, to); ok {
			d += b.Sub(a)
		}
	}
	return d
}

// overlapBoth is how much of [from, to) both sets of disjoint intervals cover.
func overlapBoth(x, y []Interval, from, to time.Time) time.Duration {
	var d time.Duration
	for _, iv := range x {
		if a, b, ok := clip(iv, from, to); ok {
			d += overlap(y, a, b)
		}
	}
	return d
}

// clip is the part of iv inside [from, to), if any.
func clip(iv Interval, from, to time.Time) (a, b time.Time, ok bool) {
	a, b = iv.From, iv.To
	if a.Before(from) {
		a = from
	}
	if b.After(to) {
		b = to
	}
	return a, b, b.After(a)
}

// CompensationPolicy says what users are owed after an outage. Korean law (the Telecommunications
// Business Act's enforcement decree as amended after the 2022 Kakao outage) asks a service to
// compensate its users once an outage lasts 2 hours; how much is the operator's terms. The policy is:
// for a component out longer than After, users are owed Multiple times the affected time, as service
// credit, and, when the service has a fee, Multiple times the fee of that time.
type CompensationPolicy struct {
	// After is how long an outage must last before anything is owed (default 2 h).
	After time.Duration
	// Multiple is how many times the affected time (and fee) is owed (default 3).
	Multiple float64
	// MonthlyFeeWon is the fee of the affected service per user and 30-day month; 0 for a free
	// service, whose users are owed service credit only.
	MonthlyFeeWon int64
	// MinImpact is the least impact that counts as an outage (default major): a minor incident
	// degrades the service without taking it away.
	MinImpact string
}

// DefaultCompensation is the policy `haetae incident report` applies unless told otherwise.
var DefaultCompensation = CompensationPolicy{After: 2 * time.Hour, Multiple: 3, MinImpact: ImpactMajor}

// Validate says what is wrong with a policy.
func (p CompensationPolicy) Validate() error {
	if p.After < 0 || p.Multiple < 0 || p.MonthlyFeeWon < 0 || math.IsNaN(p.Multiple) || math.IsInf(p.Multiple, 0) {
		return fmt.Errorf("a compensation policy has no negative threshold, multiple or fee")
	}
	if _, ok := impactRank[p.MinImpact]; !ok {
		return fmt.Errorf("the least impact of an outage is minor, major or critical, not %q", p.MinImpact)
	}
	return nil
}

// Compensation is what one component's users are owed for one incident.
type Compensation struct {
	Component string        `json:"component"`
	Affected  time.Duration `json:"affected_ns"`
	// Owed says whether the outage passed the policy's threshold.
	Owed bool `json:"owed"`
	// Credit is the service time owed to each user; Won the money, when the service has a fee.
	Credit time.Duration `json:"credit_ns"`
	Won    int64         `json:"won"`
}

// Compensate applies policy to inc: per affected component, whether anything is owed and how much.
// An incident below the policy's least impact owes nothing, however long it lasted.
func Compensate(p CompensationPolicy, inc *Incident, now time.Time) []Compensation {
	var out []Compensation
	outage := impactRank[inc.Impact] >= impactRank[p.MinImpact]
	for _, a := range AffectedDurations(inc, now) {
		d := time.Duration(a.Seconds) * time.Second
		c := Compensation{Component: a.Component, Affected: d}
		if outage && d > p.After {
			c.Owed = true
			c.Credit = time.Duration(float64(d) * p.Multiple).Round(time.Second)
			c.Won = int64(math.Ceil(float64(p.MonthlyFeeWon) * p.Multiple * d.Hours() / (30 * 24)))
		}
		out = append(out, c)
	}
	return out
}
