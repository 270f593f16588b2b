package admission_test

import (
	"testing"

	"github.com/haetae/haetae/admission"
)

func TestClassOf(t *testing.T) {
	tests := []struct {
		route string
		want  admission.Class
	}{
		{"send", admission.Critical},
		{"redeem_gift", admission.Critical},
		{"return_rental", admission.Critical},
		{"vehicle_event", admission.Critical},
		{"history", admission.Normal},
		{"list_rooms", admission.Normal},
		{"create_session", admission.Normal},
		{"get_gift", admission.Normal},
		{"get_rental", admission.Normal},
		{"mark_read", admission.Sheddable},
		{"status", admission.Sheddable},
		{"list_incidents", admission.Sheddable},
		{"status_page", admission.Exempt},
		{"get_incident", admission.Normal},
		{"healthz", admission.Exempt},
		{"readyz", admission.Exempt},
		{"metrics", admission.Exempt},
		{"admin_drain", admission.Exempt},
		{"a_route_nobody_classified", admission.Normal},
	}
	for _, tt := range tests {
		t.Run(tt.route, func(t *testing.T) {
			if got := admission.ClassOf(tt.route); got != tt.want {
				t.Errorf("ClassOf(%q) = %s, want %s", tt.route, got, tt.want)
			}
		})
	}
}

func TestFrameClass(t *testing.T) {
	tests := []struct {
		frame string
		want  admission.Class
	}{
		{"subscribe", admission.Normal},
		{"typing", admission.Sheddable},
		{"unsubscribe", admission.Exempt},
		{"something_else", admission.Normal},
	}
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			if got := admission.FrameClass(tt.frame); got != tt.want {
				t.Errorf("FrameClass(%q) = %s, want %s", tt.frame, got, tt.want)
			}
		})
	}
}

func TestParseClass(t *testing.T) {
	for _, c := range []admission.Class{admission.Sheddable, admission.Normal, admission.Critical, admission.Exempt} {
		got, err := admission.ParseClass(c.String())
		if err != nil || got != c {
			t.Errorf("ParseClass(%q) = %v, %v", c, got, err)
		}
	}
	if _, err := admission.ParseClass("urgent"); err == nil {
		t.Error("ParseClass(urgent) took an unknown class")
	}
}

func TestClassOrder(t *testing.T) {
	if !(admission.Sheddable < admission.Normal && admission.Normal < admission.Critical) {
		t.Fatal("classes must order sheddable < normal < critical: the limiter serves the higher first")
	}
}
