package httpapi

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/statuspage"
)

// Request bodies of the incident endpoints.
type (
	webhookRequest struct {
		URL    string `json:"url"`
		Secret string `json:"secret"`
	}
)

// The status and incident reads need no login and no majority: they are served from what this node
// has (routes.go marks none of them write), so a node cut off from the others still tells its users.

// withIncidents answers 404 for the incident routes of a server without an incident history (a bare
// Server in a test); every node has one.
func (s *Server) withIncidents(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.Incidents == nil {
			return haetae.Errorf(haetae.ENotFound, "this node keeps no incident history")
		}
		return h(w, r)
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	st, err := svc.Status(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) handleListIncidents(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	limit, err := queryLimit(r, 1000)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = 100
	}
	list, err := svc.Incidents(r.Context(), limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*haetae.Incident{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": list})
	return nil
}

func (s *Server) handleGetIncident(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	inc, err := svc.Incident(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inc)
	return nil
}

func (s *Server) handleCreateIncident(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	var req haetae.NewIncident
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	inc, err := svc.CreateIncident(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inc)
	return nil
}

func (s *Server) handleAddIncidentUpdate(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	var req haetae.NewUpdate
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	inc, err := svc.AddUpdate(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inc)
	return nil
}

func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	list, err := svc.Webhooks(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": list})
	return nil
}

func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	var req webhookRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	hook, err := svc.AddWebhook(r.Context(), req.URL, req.Secret)
	if err != nil {
		return err
	}
	hook.Secret = "" // the caller chose it; it is never sent back
	writeJSON(w, http.StatusCreated, hook)
	return nil
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	if err := svc.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleStatusPage serves the status page for people: HTML, no script, one stylesheet.
func (s *Server) handleStatusPage(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	st, err := svc.Status(r.Context())
	if err != nil {
		return err
	}
	hist, err := svc.Incidents(r.Context(), 0)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := statuspage.Render(&buf, statuspage.Build(st, hist, st.At)); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
	return nil
}

func (s *Server) handleStatusCSS(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(statuspage.CSS)
	return nil
}

// Atom (RFC 4287) elements of the incident feed.
type (
	atomFeed struct {
		XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
		ID      string      `xml:"id"`
		Title   string      `xml:"title"`
		Updated string      `xml:"updated"`
		Author  atomPerson  `xml:"author"`
		Links   []atomLink  `xml:"link"`
		Entries []atomEntry `xml:"entry"`
	}
	atomPerson struct {
		Name string `xml:"name"`
	}
	atomLink struct {
		Rel  string `xml:"rel,attr,omitempty"`
		Type string `xml:"type,attr,omitempty"`
		Href string `xml:"href,attr"`
	}
	atomEntry struct {
		ID        string     `xml:"id"`
		Title     string     `xml:"title"`
		Updated   string     `xml:"updated"`
		Published string     `xml:"published"`
		Links     []atomLink `xml:"link"`
		Category  []atomCat  `xml:"category"`
		Summary   string     `xml:"summary"`
		Content   atomText   `xml:"content"`
	}
	atomCat struct {
		Term string `xml:"term,attr"`
	}
	atomText struct {
		Type string `xml:"type,attr"`
		Body string `xml:",chardata"`
	}
)

// handleIncidentsAtom serves the history as an Atom feed, newest first. Entry ids are tag URIs of the
// incident id, the same from every node, so a reader that follows several nodes sees one entry each.
func (s *Server) handleIncidentsAtom(w http.ResponseWriter, r *http.Request) error {
	svc := s.Incidents
	list, err := svc.Incidents(r.Context(), 50)
	if err != nil {
		return err
	}
	base := baseURL(r)
	feed := atomFeed{
		ID: "tag:haetae,2026:incidents", Title: "Haetae incidents", Author: atomPerson{"Haetae"},
		Links: []atomLink{{Rel: "self", Type: "application/atom+xml", Href: base + "/v1/incidents.atom"}, {Rel: "alternate", Type: "text/html", Href: base + "/status"}},
	}
	updated := time.Unix(0, 0).UTC()
	for _, inc := range list {
		u := lastChange(inc)
		if u.After(updated) {
			updated = u
		}
		state := inc.Status
		if inc.Local {
			state += ", seen by one node only"
		}
		feed.Entries = append(feed.Entries, atomEntry{
			ID: "tag:haetae,2026:incident:" + inc.ID, Title: "[" + state + "] " + inc.Title,
			Updated: u.Format(time.RFC3339), Published: inc.StartedAt.UTC().Format(time.RFC3339),
			Links:    []atomLink{{Rel: "alternate", Type: "text/html", Href: base + "/status#" + inc.ID}},
			Category: []atomCat{{Term: inc.Impact}, {Term: inc.Status}},
			Summary:  inc.Cause,
			Content:  atomText{Type: "text", Body: incidentText(inc)},
		})
	}
	feed.Updated = updated.Format(time.RFC3339)
	b, err := xml.MarshalIndent(feed, "", " ")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Write([]byte(xml.Header))
	w.Write(b)
	return nil
}

func lastChange(inc *haetae.Incident) time.Time {
	t := inc.StartedAt
	for _, u := range inc.Updates {
		if u.At.After(t) {
			t = u.At
		}
	}
	if inc.ResolvedAt != nil && inc.ResolvedAt.After(t) {
		t = *inc.ResolvedAt
	}
	return t.UTC()
}

func incidentText(inc *haetae.Incident) string {
	var b strings.Builder
	b.WriteString("Impact: " + inc.Impact + ". Components: " + strings.Join(inc.Components, ", ") + ".\n")
	b.WriteString("Started " + inc.StartedAt.UTC().Format(time.RFC3339))
	if inc.ResolvedAt != nil {
		b.WriteString(", resolved " + inc.ResolvedAt.UTC().Format(time.RFC3339))
	}
	b.WriteString(".\n")
	if inc.Cause != "" {
		b.WriteString("Cause: " + inc.Cause + "\n")
	}
	for _, u := range inc.Updates {
		b.WriteString(u.At.UTC().Format(time.RFC3339) + " " + u.Status)
		if u.Text != "" {
			b.WriteString(": " + u.Text)
		}
		b.WriteString("\n")
	}
	if inc.Postmortem != "" {
		b.WriteString("Postmortem: " + inc.Postmortem + "\n")
	}
	return b.String()
}

// baseURL is the scheme and host the request came to, for absolute links.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
