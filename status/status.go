// Package status keeps the platform's incident history honest from every node: detectors inside each
// node open and resolve incidents on their own, people add incidents and updates, and every node
// answers the status and the history from what it has, without a majority. It decides what an incident
// is (which fault, which views, when it is over) and merges what a cut-off node saw alone; storage is
// behind [Store] (the R3 bucket in jsstore) and HTTP is httpapi's. It must not import NATS or
// net/http's server side.
package status

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haetae/haetae"
)

// Store keeps incidents and webhook subscribers where every node reads them (jsstore.IncidentStore).
// Create and AddWebhook are create-only (conflict when the id is taken); Update is compare-and-set.
type Store interface {
	List(ctx context.Context) ([]*haetae.Incident, error)
	// Changes returns the incidents written after a position of the store, and the position after
	// them; 0 is the beginning.
	Changes(ctx context.Context, after uint64) ([]*haetae.Incident, uint64, error)
	Get(ctx context.Context, id string) (*haetae.Incident, uint64, error)
	Create(ctx context.Context, inc *haetae.Incident) error
	Update(ctx context.Context, id string, change func(*haetae.Incident) (bool, error)) (*haetae.Incident, error)
	Webhooks(ctx context.Context) ([]*haetae.Webhook, error)
	AddWebhook(ctx context.Context, w *haetae.Webhook) error
	DeleteWebhook(ctx context.Context, id string) error
}

// Config is what a [Service] is built from.
type Config struct {
	// Node and DC name this node.
	Node, DC string
	// Components the status reports on (default haetae.DefaultComponents).
	Components []string
	Store      Store
	Detectors  []Detector
	// Quorum says whether this node can write the replicated history.
	Quorum func() error
	// DCs, when set, is every data center as this node sees it (DCWatch.States).
	DCs func(now time.Time) []haetae.DCState
	// Lost, when set, names the nodes this node has lost contact with (DCWatch.Unreachable): a node
	// leaving an incident also takes off their views, which they cannot take off themselves.
	Lost func(now time.Time) []string
	// JournalPath is the file that keeps what this node saw alone and the faults it reports, so a
	// restart forgets neither ("" keeps them in memory only).
	JournalPath string
	// Notify, when set, is told of every change this node wrote (to send webhooks).
	Notify func(event string, inc *haetae.Incident)
	// Every is how often detectors run (default 1 s); Refresh how often the history is re-read from
	// this node's replica (default 2 s); Settle how long after start nothing is resolved, so that a
	// node that just started does not close incidents before its detectors have looked (default 12 s).
	Every, Refresh, Settle time.Duration
	// WriteTimeout bounds one write of the history (default 5 s).
	WriteTimeout time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
}

// Service implements [haetae.IncidentService] for one node and runs its detectors.
type Service struct {
	cfg   Config
	start time.Time

	mu      sync.Mutex
	hist    map[string]*haetae.Incident // the replicated history as last read or written
	asOf    time.Time                   // when hist was last brought up to date with this node's replica
	pos     uint64                      // the store position hist was read up to
	fullAt  time.Time                   // when hist was last read in full
	journal journal                     // faults this node reports, incidents it holds alone
	hooks   []*haetae.Webhook

	quit chan struct{}
	done chan struct{}
}

var _ haetae.IncidentService = (*Service)(nil)

// New returns a service; Start runs its detectors.
func New(cfg Config) *Service {
	if cfg.Components == nil {
		cfg.Components = haetae.DefaultComponents
	}
	if cfg.Every == 0 {
		cfg.Every = time.Second
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 2 * time.Second
	}
	if cfg.Settle == 0 {
		cfg.Settle = 12 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Quorum == nil {
		cfg.Quorum = func() error { return nil }
	}
	s := &Service{cfg: cfg, start: cfg.Now(), hist: map[string]*haetae.Incident{}}
	s.journal = loadJournal(cfg.JournalPath, cfg.Logger)
	return s
}

// Start reads the history once and runs the detectors until Close.
func (s *Service) Start() {
	s.quit, s.done = make(chan struct{}), make(chan struct{})
	s.refresh()
	go s.run()
}

// Close stops the detectors and waits for them.
func (s *Service) Close() {
	if s.quit == nil {
		return
	}
	select {
	case <-s.quit:
		return
	default:
	}
	close(s.quit)
	<-s.done
}

func (s *Service) run() {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.Every)
	defer tick.Stop()
	lastRefresh := s.cfg.Now()
	for {
		select {
		case <-s.quit:
			return
		case <-tick.C:
		}
		s.Tick()
		if s.cfg.Now().Sub(lastRefresh) >= s.cfg.Refresh {
			s.refresh()
			lastRefresh = s.cfg.Now()
		}
	}
}

// fullEvery is how often the history is read whole rather than from where the last read ended.
const fullEvery = 5 * time.Minute

// refresh brings the copy of the history up to date with this node's replica: what was written since
// the last read, and everything every few minutes. On failure the old copy stays, and its age shows.
func (s *Service) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	at := s.cfg.Now()
	s.mu.Lock()
	from := s.pos
	full := at.Sub(s.fullAt) >= fullEvery
	s.mu.Unlock()
	if full {
		from = 0
	}
	list, pos, err := s.cfg.Store.Changes(ctx, from)
	if err != nil {
		s.cfg.Logger.Debug("incident history not read; serving the copy", "err", err)
		return
	}
	hooks, herr := s.cfg.Store.Webhooks(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if full {
		s.fullAt = at
	}
	// Incidents are never deleted, so a read only adds or replaces; a replica that lags behind a
	// write this node made itself does not undo it.
	for _, inc := range list {
		if old := s.hist[inc.ID]; old == nil || !older(inc, old) {
			s.hist[inc.ID] = inc
		}
	}
	s.asOf, s.pos = at, pos
	if herr == nil {
		s.hooks = hooks
	}
}

// older says whether a is an earlier state of the same incident than b: updates are only ever
// appended, and an incident is resolved after it was open.
func older(a, b *haetae.Incident) bool {
	if len(a.Updates) != len(b.Updates) {
		return len(a.Updates) < len(b.Updates)
	}
	return a.Open() && !b.Open()
}

// Subscribers returns the webhook subscribers as last read (for the notifier).
func (s *Service) Subscribers() []*haetae.Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hooks)
}

// remember puts an incident this node wrote or read into the copy of the history.
func (s *Service) remember(inc *haetae.Incident) {
	if inc == nil {
		return
	}
	s.mu.Lock()
	s.hist[inc.ID] = inc
	s.mu.Unlock()
}

func (s *Service) writeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
}

// view is the history as this node serves it: the replicated copy with what it holds alone laid over.
func (s *Service) view() []*haetae.Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*haetae.Incident, 0, len(s.hist)+len(s.journal.Local))
	for id, inc := range s.hist {
		if l := s.journal.Local[id]; l != nil {
			out = append(out, merge(inc, l, s.cfg.Node))
			continue
		}
		out = append(out, inc)
	}
	for id, l := range s.journal.Local {
		if s.hist[id] == nil {
			c := clone(l) // the journal's copy changes under the lock; readers get their own
			out = append(out, &c)
		}
	}
	haetae.SortIncidents(out)
	return out
}

// Status implements [haetae.IncidentService].
func (s *Service) Status(ctx context.Context) (*haetae.Status, error) {
	now := s.cfg.Now()
	st := &haetae.Status{Node: s.cfg.Node, DC: s.cfg.DC, Quorum: true, At: now.UTC(), DCs: []haetae.DCState{}, OpenIncidents: []*haetae.Incident{}}
	if err := s.cfg.Quorum(); err != nil {
		st.Quorum, st.QuorumProblem = false, err.Error()
	}
	if s.cfg.DCs != nil {
		st.DCs = s.cfg.DCs(now)
	}
	all := s.view()
	for _, inc := range all {
		if inc.Open() {
			st.OpenIncidents = append(st.OpenIncidents, inc)
		}
	}
	st.Components = haetae.ComponentStates(s.cfg.Components, st.OpenIncidents)
	st.Overall = haetae.Overall(st.Components, st.DCs)
	s.mu.Lock()
	st.HistoryAsOf = s.asOf.UTC()
	s.mu.Unlock()
	return st, nil
}

// Components names the components the status reports on.
func (s *Service) Components() []string { return slices.Clone(s.cfg.Components) }

// Incidents implements [haetae.IncidentService].
func (s *Service) Incidents(ctx context.Context, limit int) ([]*haetae.Incident, error) {
	if limit < 0 {
		return nil, haetae.Errorf(haetae.EInvalid, "limit is at least 1")
	}
	all := s.view()
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// Incident implements [haetae.IncidentService].
func (s *Service) Incident(ctx context.Context, id string) (*haetae.Incident, error) {
	var found *haetae.Incident
	for _, inc := range s.view() {
		if inc.ID == id {
			found = inc
			break
		}
	}
	if found == nil && validID(id) {
		// Opened a moment ago through another node: ask the leader, briefly (a cut-off node cannot).
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		inc, _, err := s.cfg.Store.Get(ctx, id)
		cancel()
		if err == nil && inc != nil {
			s.remember(inc)
			found = inc
		}
	}
	if found == nil {
		return nil, haetae.Errorf(haetae.ENotFound, "no such incident")
	}
	c := *found
	c.Affected = haetae.AffectedDurations(&c, s.cfg.Now())
	return &c, nil
}

func validID(id string) bool {
	if len(id) < 1 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CreateIncident implements [haetae.IncidentService].
func (s *Service) CreateIncident(ctx context.Context, n haetae.NewIncident) (*haetae.Incident, error) {
	if err := haetae.ValidNewIncident(n, s.cfg.Components); err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC()
	if n.Status == "" {
		n.Status = haetae.StageInvestigating
	}
	started := now
	if n.StartedAt != nil {
		if n.StartedAt.After(now) {
			return nil, haetae.Errorf(haetae.EInvalid, "started_at is not in the future")
		}
		started = n.StartedAt.UTC()
	}
	text := n.Text
	if text == "" {
		text = n.Cause
	}
	inc := &haetae.Incident{
		ID: newID(now), Title: n.Title, Impact: n.Impact, Status: n.Status, Components: slices.Clone(n.Components),
		Cause: n.Cause, StartedAt: started, Updates: []haetae.Update{{At: now, Status: n.Status, Text: text, Components: slices.Clone(n.Components), By: "admin"}},
	}
	if err := s.cfg.Store.Create(ctx, inc); err != nil {
		return nil, err
	}
	s.remember(inc)
	s.notify("incident.opened", inc)
	return inc, nil
}

// newID makes the id of a person's incident: the day and random letters.
func newID(now time.Time) string {
	b := make([]byte, 5)
	rand.Read(b)
	return now.Format("20060102") + "-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// AddUpdate implements [haetae.IncidentService].
func (s *Service) AddUpdate(ctx context.Context, id string, u haetae.NewUpdate) (*haetae.Incident, error) {
	if !validID(id) {
		return nil, haetae.Errorf(haetae.ENotFound, "no such incident")
	}
	now := s.cfg.Now().UTC()
	wasOpen := false
	inc, err := s.cfg.Store.Update(ctx, id, func(inc *haetae.Incident) (bool, error) {
		if err := haetae.ValidNewUpdate(inc, u, s.cfg.Components); err != nil {
			return false, err
		}
		wasOpen = inc.Open()
		haetae.ApplyUpdate(inc, u, now)
		if !inc.Open() {
			inc.SeenBy = nil // people closed it; detectors that still see the fault open a new one
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if inc == nil {
		return nil, haetae.Errorf(haetae.ENotFound, "no such incident")
	}
	s.remember(inc)
	event := "incident.updated"
	if wasOpen && !inc.Open() {
		event = "incident.resolved"
	}
	s.notify(event, inc)
	return inc, nil
}

func (s *Service) notify(event string, inc *haetae.Incident) {
	if s.cfg.Notify != nil {
		c := *inc
		s.cfg.Notify(event, &c)
	}
}

// AddWebhook implements [haetae.IncidentService].
func (s *Service) AddWebhook(ctx context.Context, rawURL, secret string) (*haetae.Webhook, error) {
	if err := haetae.ValidWebhookURL(rawURL); err != nil {
		return nil, err
	}
	if len(secret) < 16 || len(secret) > 256 {
		return nil, haetae.Errorf(haetae.EInvalid, "a webhook secret is 16 to 256 characters")
	}
	now := s.cfg.Now().UTC()
	w := &haetae.Webhook{ID: "wh-" + newID(now), URL: rawURL, Secret: secret, CreatedAt: now}
	if err := s.cfg.Store.AddWebhook(ctx, w); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.hooks = append(s.hooks, w)
	s.mu.Unlock()
	return w, nil
}

// Webhooks implements [haetae.IncidentService].
func (s *Service) Webhooks(ctx context.Context) ([]*haetae.Webhook, error) {
	list, err := s.cfg.Store.Webhooks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*haetae.Webhook, 0, len(list))
	for _, w := range list {
		c := *w
		c.Secret = ""
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *haetae.Webhook) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// DeleteWebhook implements [haetae.IncidentService].
func (s *Service) DeleteWebhook(ctx context.Context, id string) error {
	if err := s.cfg.Store.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	s.hooks = slices.DeleteFunc(s.hooks, func(w *haetae.Webhook) bool { return w.ID == id })
	s.mu.Unlock()
	return nil
}

// Counts is what the metrics report: open incidents by impact, incidents held only by this node, and
// the age of the history copy.
func (s *Service) Counts() (open map[string]int, local int, age time.Duration) {
	open = map[string]int{haetae.ImpactMinor: 0, haetae.ImpactMajor: 0, haetae.ImpactCritical: 0}
	for _, inc := range s.view() {
		if inc.Open() {
			open[inc.Impact]++
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.asOf.IsZero() {
		age = s.cfg.Now().Sub(s.asOf)
	}
	return open, len(s.journal.Local), age
}

// faultID is the id of the n-th incident of a fault: its key made safe for a KV key and a URL.
func faultID(key string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(key) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == ':':
			b.WriteByte('-')
		default:
			b.WriteByte('_')
		}
	}
	id := b.String()
	if len(id) > 100 {
		id = id[:100]
	}
	return id + "-" + strconv.Itoa(n)
}

// epoch is the number at the end of a fault incident's id.
func epoch(id string) int {
	i := strings.LastIndexByte(id, '-')
	n, _ := strconv.Atoi(id[i+1:])
	return n
}
