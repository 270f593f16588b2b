package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/haetae/haetae"
)

// How nodes converge on one incident per fault:
//
//   - A fault has an identity that every node computes alike ("dc_unreachable:dc2"). The n-th incident
//     of that fault has the id faultID(key, n) ("dc_unreachable-dc2-3").
//   - A node that sees a fault looks at the latest incident of that fault: if it is open, the node adds
//     its view to it (compare-and-set on the revision); if it is resolved or absent, the node creates the
//     next one with a create-only write. Of several nodes creating the same id at once, one wins and the
//     others find it open and join it. So three detecting nodes make one incident with three views.
//   - A node that no longer sees the fault removes its view (and the views of nodes it has lost contact
//     with, which cannot remove their own); the last view out resolves the incident.
//   - A node that cannot write (no majority) keeps what it sees in its journal and serves it with the
//     history. Once it can write again it merges each such incident into the replicated one with the
//     same id, or the next free one of the same fault: by id, so a repeat merges nothing twice.

// report is a fault this node reports, and where.
type report struct {
	ID    string       `json:"id"`
	Fault haetae.Fault `json:"fault"`
	// Local says the incident is held in the journal, not yet in the replicated history.
	Local bool `json:"local,omitempty"`
	// LeftAt is when the fault was last seen gone while the leave is not written yet.
	LeftAt *time.Time `json:"left_at,omitempty"`
}

// journal is what a node keeps of its own: the faults it reports and the incidents it holds alone. It
// is saved to a small file after every change so a restart keeps it.
type journal struct {
	Mine  map[string]*report          `json:"mine"`
	Local map[string]*haetae.Incident `json:"local"`

	path  string
	dirty bool
}

func loadJournal(path string, log *slog.Logger) journal {
	j := journal{Mine: map[string]*report{}, Local: map[string]*haetae.Incident{}, path: path}
	if path == "" {
		return j
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("incident journal unreadable; starting without it", "path", path, "err", err)
		}
		return j
	}
	if err := json.Unmarshal(b, &j); err != nil {
		log.Warn("incident journal corrupt; starting without it", "path", path, "err", err)
		return journal{Mine: map[string]*report{}, Local: map[string]*haetae.Incident{}, path: path}
	}
	if j.Mine == nil {
		j.Mine = map[string]*report{}
	}
	if j.Local == nil {
		j.Local = map[string]*haetae.Incident{}
	}
	j.path = path
	return j
}

// save writes the journal atomically (temporary file, fsync, rename).
func (j *journal) save() error {
	if j.path == "" || !j.dirty {
		return nil
	}
	b, err := json.MarshalIndent(j, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(j.path), filepath.Base(j.path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), j.path); err != nil {
		return err
	}
	j.dirty = false
	return nil
}

// Tick runs the detectors once and brings the history in line with what they see: it opens or joins
// incidents of new faults, leaves those of faults gone, and merges what this node held alone once it
// can write again. The service's loop calls it every second; tests call it directly.
func (s *Service) Tick() {
	now := s.cfg.Now()
	faults := map[string]haetae.Fault{}
	var keys []string
	for _, d := range s.cfg.Detectors {
		for _, f := range d.Check(now) {
			if _, dup := faults[f.Key]; !dup {
				keys = append(keys, f.Key)
			}
			faults[f.Key] = f
		}
	}
	quorumOK := s.cfg.Quorum() == nil
	for _, key := range keys {
		f := faults[key]
		s.mu.Lock()
		r := s.journal.Mine[key]
		if r != nil && r.LeftAt != nil {
			r.LeftAt, s.journal.dirty = nil, true // back before its leave was written: still ours
		}
		s.mu.Unlock()
		if r == nil {
			s.open(f, quorumOK, now)
		}
	}
	if now.Sub(s.start) >= s.cfg.Settle {
		s.mu.Lock()
		var gone []string
		for key, r := range s.journal.Mine {
			if _, ok := faults[key]; !ok {
				if r.LeftAt == nil {
					t := now.UTC()
					r.LeftAt, s.journal.dirty = &t, true
				}
				gone = append(gone, key)
			}
		}
		s.mu.Unlock()
		slices.Sort(gone)
		for _, key := range gone {
			s.leave(key, quorumOK)
		}
		if quorumOK {
			s.leaveOrphans(faults, now)
		}
	}
	if quorumOK {
		s.syncLocal()
	}
	s.mu.Lock()
	if err := s.journal.save(); err != nil {
		s.cfg.Logger.Warn("incident journal not saved", "path", s.journal.path, "err", err)
	}
	s.mu.Unlock()
}

// latestEpoch is the number of the latest incident of a fault this node knows of (0: none).
func (s *Service) latestEpoch(key string) (int, *haetae.Incident) {
	n, latest := 0, (*haetae.Incident)(nil)
	for _, inc := range s.view() {
		if inc.Fault == key {
			if e := epoch(inc.ID); e > n {
				n, latest = e, inc
			}
		}
	}
	return n, latest
}

func (s *Service) me() haetae.View { return haetae.View{Node: s.cfg.Node, DC: s.cfg.DC} }

func (s *Service) byLine() string {
	if s.cfg.DC == "" {
		return "node " + s.cfg.Node
	}
	return fmt.Sprintf("%s (node %s)", s.cfg.DC, s.cfg.Node)
}

// newFaultIncident is the incident a fault opens.
func (s *Service) newFaultIncident(f haetae.Fault, id string, now time.Time) *haetae.Incident {
	since := f.Since
	if since.IsZero() || since.After(now) {
		since = now
	}
	v := s.me()
	v.Since = since.UTC()
	return &haetae.Incident{
		ID: id, Title: f.Title, Impact: f.Impact, Status: haetae.StageInvestigating,
		Components: slices.Clone(f.Components), Cause: f.Cause, StartedAt: since.UTC(), Auto: true,
		DCs: slices.Clone(f.DCs), Fault: f.Key, SeenBy: []haetae.View{v},
		Updates: []haetae.Update{{At: now.UTC(), Status: haetae.StageInvestigating, Text: "Detected by " + s.byLine() + ".",
			Components: slices.Clone(f.Components), By: s.cfg.Node}},
	}
}

// addView adds this node's view of f to inc; false if it is there already.
func (s *Service) addView(inc *haetae.Incident, f haetae.Fault, now time.Time) bool {
	if slices.ContainsFunc(inc.SeenBy, func(v haetae.View) bool { return v.Node == s.cfg.Node }) {
		return false
	}
	since := f.Since
	if since.IsZero() || since.After(now) {
		since = now
	}
	v := s.me()
	v.Since = since.UTC()
	inc.SeenBy = append(inc.SeenBy, v)
	if since.Before(inc.StartedAt) {
		inc.StartedAt = since.UTC()
	}
	inc.Updates = append(inc.Updates, haetae.Update{At: now.UTC(), Status: inc.Status, Text: "Also seen from " + s.byLine() + ".", By: s.cfg.Node})
	return true
}

// open reports a new fault: joins the open incident of that fault or creates the next one, or, when
// this node cannot write, keeps it in the journal.
func (s *Service) open(f haetae.Fault, quorumOK bool, now time.Time) {
	if quorumOK {
		inc, event, err := s.join(f, now)
		if err == nil {
			s.mu.Lock()
			s.journal.Mine[f.Key] = &report{ID: inc.ID, Fault: f}
			s.journal.dirty = true
			s.mu.Unlock()
			s.remember(inc)
			s.notify(event, inc)
			s.cfg.Logger.Info("incident "+strings.TrimPrefix(event, "incident."), "id", inc.ID, "fault", f.Key)
			return
		}
		s.cfg.Logger.Warn("incident not written; keeping it on this node until it can", "fault", f.Key, "err", err)
	}
	n, latest := s.latestEpoch(f.Key)
	var inc *haetae.Incident
	if latest != nil && latest.Open() {
		c := clone(latest)
		inc = &c
		s.addView(inc, f, now)
	} else {
		inc = s.newFaultIncident(f, faultID(f.Key, n+1), now)
	}
	inc.Local = true
	s.mu.Lock()
	s.journal.Local[inc.ID] = inc
	s.journal.Mine[f.Key] = &report{ID: inc.ID, Fault: f, Local: true}
	s.journal.dirty = true
	s.mu.Unlock()
	s.cfg.Logger.Info("incident kept on this node alone", "id", inc.ID, "fault", f.Key)
}

// join adds this node's view to the open incident of f, or creates the next incident of f.
func (s *Service) join(f haetae.Fault, now time.Time) (*haetae.Incident, string, error) {
	ctx, cancel := s.writeCtx()
	defer cancel()
	cand, _ := s.latestEpoch(f.Key)
	cand = max(cand, 1)
	for attempt := 0; attempt < 20; attempt++ {
		id := faultID(f.Key, cand)
		inc, err := s.cfg.Store.Update(ctx, id, func(inc *haetae.Incident) (bool, error) {
			if !inc.Open() {
				return false, nil
			}
			return s.addView(inc, f, now), nil
		})
		if err != nil {
			return nil, "", err
		}
		if inc != nil {
			if inc.Open() {
				return inc, "incident.updated", nil
			}
			cand++
			continue
		}
		inc = s.newFaultIncident(f, id, now)
		err = s.cfg.Store.Create(ctx, inc)
		if err == nil {
			return inc, "incident.opened", nil
		}
		if haetae.ErrorCode(err) != haetae.EConflict {
			return nil, "", err
		}
		// Another node created it a moment ago: the next round joins it.
	}
	return nil, "", fmt.Errorf("no incident of fault %s could be opened or joined", f.Key)
}

// leave removes this node's view from the incident of a fault it no longer sees; the last view out
// resolves the incident. Without a majority it waits: the fault may be back before it can write.
func (s *Service) leave(key string, quorumOK bool) {
	s.mu.Lock()
	r := s.journal.Mine[key]
	s.mu.Unlock()
	if r == nil || r.LeftAt == nil {
		return
	}
	leftAt := *r.LeftAt
	if r.Local {
		s.mu.Lock()
		if l := s.journal.Local[r.ID]; l != nil {
			s.dropViews(l, leftAt)
		}
		delete(s.journal.Mine, key)
		s.journal.dirty = true
		s.mu.Unlock()
		return
	}
	if !quorumOK {
		return
	}
	ctx, cancel := s.writeCtx()
	defer cancel()
	wasOpen := false
	inc, err := s.cfg.Store.Update(ctx, r.ID, func(inc *haetae.Incident) (bool, error) {
		wasOpen = inc.Open()
		return s.dropViews(inc, leftAt), nil
	})
	if err != nil {
		s.cfg.Logger.Warn("incident not updated; retrying", "id", r.ID, "err", err)
		return
	}
	if inc == nil {
		// It was joined, so it exists: the answer came from a replica or former leader that has not
		// seen it yet (a partition healing). Ask again next time.
		s.cfg.Logger.Debug("incident not found where it was joined; retrying", "id", r.ID)
		return
	}
	s.mu.Lock()
	delete(s.journal.Mine, key)
	s.journal.dirty = true
	s.mu.Unlock()
	s.remember(inc)
	switch {
	case wasOpen && !inc.Open():
		s.notify("incident.resolved", inc)
		s.cfg.Logger.Info("incident resolved", "id", inc.ID, "fault", key)
	case wasOpen:
		s.notify("incident.updated", inc)
	}
}

// leaveOrphans takes this node's view off open automatic incidents whose fault it does not see and
// does not report: a view left behind by a report this node lost (a journal lost with its disk, a leave
// answered by a stale leader). Without this, such an incident would stay open for good.
func (s *Service) leaveOrphans(faults map[string]haetae.Fault, now time.Time) {
	var orphans []*haetae.Incident
	s.mu.Lock()
	for _, inc := range s.hist {
		if !inc.Auto || !inc.Open() || s.journal.Local[inc.ID] != nil {
			continue
		}
		if _, seen := faults[inc.Fault]; seen {
			continue
		}
		if !slices.ContainsFunc(inc.SeenBy, func(v haetae.View) bool { return v.Node == s.cfg.Node }) {
			continue
		}
		if slices.ContainsFunc(mapValues(s.journal.Mine), func(r *report) bool { return r.ID == inc.ID }) {
			continue
		}
		orphans = append(orphans, inc)
	}
	for _, inc := range orphans {
		t := now.UTC()
		s.journal.Mine[inc.Fault] = &report{ID: inc.ID, Fault: haetae.Fault{Key: inc.Fault}, LeftAt: &t}
		s.journal.dirty = true
	}
	s.mu.Unlock()
	for _, inc := range orphans {
		s.cfg.Logger.Info("leaving an incident this node no longer reports", "id", inc.ID, "fault", inc.Fault)
		s.leave(inc.Fault, true)
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// dropViews takes this node's view off inc, and those of nodes this node has lost contact with (they
// cannot take off their own); with no view left, an open automatic incident is resolved at leftAt.
func (s *Service) dropViews(inc *haetae.Incident, leftAt time.Time) bool {
	if !inc.Open() {
		return false
	}
	var lost []string
	if s.cfg.Lost != nil {
		lost = s.cfg.Lost(leftAt)
	}
	before := len(inc.SeenBy)
	inc.SeenBy = slices.DeleteFunc(inc.SeenBy, func(v haetae.View) bool {
		return v.Node == s.cfg.Node || slices.Contains(lost, v.Node)
	})
	if len(inc.SeenBy) == before {
		return false
	}
	if len(inc.SeenBy) > 0 {
		var still []string
		for _, v := range inc.SeenBy {
			still = append(still, v.DC)
		}
		inc.Updates = append(inc.Updates, haetae.Update{At: leftAt.UTC(), Status: inc.Status,
			Text: s.byLine() + " no longer sees it; still seen from " + strings.Join(still, ", ") + ".", By: s.cfg.Node})
		return true
	}
	t := leftAt.UTC()
	inc.Status, inc.ResolvedAt = haetae.StageResolved, &t
	inc.Updates = append(inc.Updates, haetae.Update{At: t, Status: haetae.StageResolved,
		Text: "Resolved: " + s.byLine() + " no longer sees the fault, and no other node reports it.", By: s.cfg.Node})
	return true
}

// syncLocal merges what this node held alone into the replicated history.
func (s *Service) syncLocal() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.journal.Local))
	for id := range s.journal.Local {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		s.mu.Lock()
		l := s.journal.Local[id]
		s.mu.Unlock()
		if l == nil {
			continue
		}
		stored, err := s.mergeOne(l)
		if err != nil {
			s.cfg.Logger.Warn("incident held on this node not merged yet", "id", id, "err", err)
			return
		}
		s.mu.Lock()
		delete(s.journal.Local, id)
		for key, r := range s.journal.Mine {
			if r.ID == id && r.Local {
				if stored.Open() {
					r.ID, r.Local = stored.ID, false
				} else {
					delete(s.journal.Mine, key) // closed meanwhile: if still seen, the next tick opens anew
				}
			}
		}
		s.journal.dirty = true
		s.mu.Unlock()
		s.remember(stored)
		s.notify("incident.updated", stored)
		s.cfg.Logger.Info("incident held on this node merged into the history", "id", stored.ID, "from", id)
	}
}

// mergeOne writes one incident held alone into the history: merged into the incident with its id if
// that is the same episode of the same fault, else under the next free id of the fault.
func (s *Service) mergeOne(l *haetae.Incident) (*haetae.Incident, error) {
	ctx, cancel := s.writeCtx()
	defer cancel()
	target := l.ID
	for attempt := 0; attempt < 20; attempt++ {
		same := false
		inc, err := s.cfg.Store.Update(ctx, target, func(inc *haetae.Incident) (bool, error) {
			if !sameEpisode(inc, l) {
				return false, nil
			}
			same = true
			m := merge(inc, l, s.cfg.Node)
			if equalJSON(m, inc) {
				return false, nil
			}
			*inc = *m
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		if inc != nil {
			if same {
				return inc, nil
			}
			target = faultID(l.Fault, epoch(target)+1)
			continue
		}
		c := clone(l)
		c.ID, c.Local = target, false
		err = s.cfg.Store.Create(ctx, &c)
		if err == nil {
			return &c, nil
		}
		if haetae.ErrorCode(err) != haetae.EConflict {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no place for incident %s in the history", l.ID)
}

// sameEpisode says whether a held incident is the same trouble as a stored one: the same fault, and
// the stored one was still open when the held one began.
func sameEpisode(stored, held *haetae.Incident) bool {
	if stored.Fault == "" || stored.Fault != held.Fault {
		return false
	}
	return stored.ResolvedAt == nil || !stored.ResolvedAt.Before(held.StartedAt)
}

// merge lays what node held alone (held) over the stored incident: the earlier start, every update
// once, node's own view as node last saw it, and the resolution once no view is left. Merging the same
// held incident twice gives the same result.
func merge(stored, held *haetae.Incident, node string) *haetae.Incident {
	out := clone(stored)
	out.Local = false
	if held.StartedAt.Before(out.StartedAt) {
		out.StartedAt = held.StartedAt
	}
	seen := map[string]bool{}
	key := func(u haetae.Update) string {
		return u.At.UTC().Format(time.RFC3339Nano) + "\x00" + u.By + "\x00" + u.Text
	}
	var ups []haetae.Update
	for _, u := range append(slices.Clone(out.Updates), held.Updates...) {
		if !seen[key(u)] {
			seen[key(u)] = true
			ups = append(ups, u)
		}
	}
	slices.SortStableFunc(ups, func(a, b haetae.Update) int { return a.At.Compare(b.At) })
	out.Updates = ups
	for _, c := range held.Components {
		if !slices.Contains(out.Components, c) {
			out.Components = append(out.Components, c)
		}
	}
	for _, d := range held.DCs {
		if !slices.Contains(out.DCs, d) {
			out.DCs = append(out.DCs, d)
		}
	}
	if rank(held.Impact) > rank(out.Impact) {
		out.Impact = held.Impact
	}
	out.SeenBy = slices.DeleteFunc(out.SeenBy, func(v haetae.View) bool { return v.Node == node })
	for _, v := range held.SeenBy {
		if v.Node == node {
			out.SeenBy = append(out.SeenBy, v)
		}
	}
	switch {
	case !out.Open() && !held.Open():
		if held.ResolvedAt.After(*out.ResolvedAt) {
			t := *held.ResolvedAt
			out.ResolvedAt = &t
		}
	case out.Open() && !held.Open() && len(out.SeenBy) == 0 && out.Auto:
		t := *held.ResolvedAt
		out.Status, out.ResolvedAt = haetae.StageResolved, &t
	}
	return &out
}

func rank(impact string) int {
	return map[string]int{haetae.ImpactMinor: 1, haetae.ImpactMajor: 2, haetae.ImpactCritical: 3}[impact]
}

// clone copies an incident deeply enough that changing the copy's slices leaves the original alone.
func clone(inc *haetae.Incident) haetae.Incident {
	c := *inc
	c.Components = slices.Clone(inc.Components)
	c.DCs = slices.Clone(inc.DCs)
	c.SeenBy = slices.Clone(inc.SeenBy)
	c.Updates = slices.Clone(inc.Updates)
	c.Affected = nil
	if inc.ResolvedAt != nil {
		t := *inc.ResolvedAt
		c.ResolvedAt = &t
	}
	return c
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
