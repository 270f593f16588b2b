package bench

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/haetae/haetae/admission"
)

// LoadReport is one or more scenario runs shown side by side (`haetae load --compare` runs the same
// scenario with the limiter on and off).
type LoadReport struct {
	Command string        `json:"command"`
	When    time.Time     `json:"when"`
	CPUs    int           `json:"cpus"`
	CPU     string        `json:"cpu_model,omitempty"`
	Runs    []*LoadResult `json:"runs"`
}

// Print writes the report as text tables.
func (rep *LoadReport) Print(w io.Writer) error {
	for _, r := range rep.Runs {
		surge := int(math.Ceil(float64(r.Users) * r.Factor))
		fmt.Fprintf(w, "%s: %d clients, then %d in the surge (%gx), %g operations/s each", r.Label, r.Users, surge, r.Factor, r.Rate)
		if !r.StatusServed {
			fmt.Fprint(w, "; status polls left out (this server has no GET /v1/status)")
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "phase\tclass\toffered\tok\tgoodput/s\tp50 ms\tp99 ms\tshed\terrors\tbusy\t")
		for _, p := range r.Phases {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t\n", p.Phase, p.Class, p.Offered, p.OK, p.Goodput, p.P50Ms, p.P99Ms, p.Shed, p.Errors, p.Busy)
		}
		tw.Flush()
		fmt.Fprintf(w, "typing notices written (baseline/surge/recovery): %v; the server's shed counts below cover those it dropped\n", r.Typing)
		fmt.Fprintf(w, "acknowledged sends %d; missing from their room's history afterwards: %d\n", r.Acked, r.Lost)
		drain := "not seen"
		if r.DrainSeconds >= 0 {
			drain = fmt.Sprintf("%.0f s after the surge", r.DrainSeconds)
		}
		fmt.Fprintf(w, "peak RSS %d MiB (%s); server queues empty: %s\n", r.PeakRSSBytes>>20, r.RSSScope, drain)
		for _, op := range slices.Sorted(maps.Keys(r.FirstErrors)) {
			fmt.Fprintf(w, "first %s error: %s\n", op, r.FirstErrors[op])
		}
		fmt.Fprintln(w, "timeline, every 5 s (ok/s and shed/s of critical/normal/sheddable as the clients saw them):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "t s\tphase\tok/s\tshed/s\tserver shed/s\tcritical p99 ms\tRSS MiB\tlimit\tqueued\t")
		for _, s := range r.Timeline {
			if int(s.T)%5 != 0 {
				continue
			}
			fmt.Fprintf(tw, "%.0f\t%s\t%s\t%s\t%s\t%.0f\t%d\t%d\t%d\t\n", s.T, s.Phase, byClass(s.OK), byClass(s.Shed), byClass(s.ServerShed), s.P99Ms["critical"], s.RSSBytes>>20, s.Limit, s.Queued)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	return nil
}

func byClass(m map[string]int) string {
	return fmt.Sprintf("%d/%d/%d", m["critical"], m["normal"], m["sheddable"])
}

// Problems lists what must not happen in any run, limiter on or off: an acknowledged message missing.
func (rep *LoadReport) Problems() []string {
	var p []string
	for _, r := range rep.Runs {
		if r.Lost > 0 {
			p = append(p, fmt.Sprintf("%s: %d acknowledged messages are missing from history", r.Label, r.Lost))
		}
		if r.Acked == 0 {
			p = append(p, r.Label+": no message was acknowledged")
		}
	}
	return p
}

// classColors draws each class in the same color in every chart.
var classColors = map[string]string{"critical": "#c0392b", "normal": "#2471a3", "sheddable": "#7f8c8d"}

// series is one line of a chart.
type series struct {
	name, color string
	y           []float64
}

// chart draws lines over the seconds of a run as SVG, with the surge shaded; ymax > 0 fixes the scale
// so that runs side by side compare at a glance.
func chart(title, unit string, r *LoadResult, lines []series, ymax float64) template.HTML {
	const w, h, left, right, top, bottom = 460.0, 210.0, 52.0, 10.0, 24.0, 34.0
	n := 0
	if len(r.Timeline) > 0 {
		n = int(r.Timeline[len(r.Timeline)-1].T)
	}
	if ymax <= 0 {
		for _, s := range lines {
			for _, v := range s.y {
				ymax = max(ymax, v)
			}
		}
	}
	ymax = niceCeil(ymax)
	xs := func(t float64) float64 { return left + (w-left-right)*t/float64(max(n, 1)) }
	ys := func(v float64) float64 { return top + (h-top-bottom)*(1-v/ymax) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`, w, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="15" font-weight="bold">%s</text>`, left, template.HTMLEscapeString(title))
	// The surge, shaded.
	var s0, s1 float64 = -1, -1
	for _, s := range r.Timeline {
		if s.Phase == "surge" {
			if s0 < 0 {
				s0 = s.T - 1
			}
			s1 = s.T
		}
	}
	if s0 >= 0 {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="#f9e79f" opacity="0.45"/>`, xs(s0), top, xs(s1)-xs(s0), h-top-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" fill="#9a7d0a">surge</text>`, xs(s0)+3, top+12)
	}
	// Axes and grid.
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, w-right, ys(v), ys(v))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`, left-4, ys(v)+4, fmtNum(v))
	}
	for t := 0; t <= n; t += 10 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`, xs(float64(t)), h-bottom+14, t)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">seconds</text>`, (left+w-right)/2, h-4)
	fmt.Fprintf(&b, `<text x="12" y="%.0f" transform="rotate(-90 12 %.0f)" text-anchor="middle">%s</text>`, (top+h-bottom)/2, (top+h-bottom)/2, template.HTMLEscapeString(unit))
	// Lines, and a legend.
	for k, s := range lines {
		var pts []string
		for i, v := range s.y {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xs(r.Timeline[i].T-0.5), ys(min(v, ymax))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`, s.color, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="10" height="3" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`,
			w-right-95, top+6+float64(k)*13, s.color, w-right-80, top+10+float64(k)*13, template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds a chart's top up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func fmtNum(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%gk", math.Round(v/100)/10)
	}
	return fmt.Sprintf("%g", math.Round(v*10)/10)
}

// perClass turns one per-second figure of a run into a line per class.
func perClass(r *LoadResult, f func(Sample, string) float64) []series {
	var out []series
	for _, c := range admission.Classes {
		s := series{name: c.String(), color: classColors[c.String()]}
		for _, smp := range r.Timeline {
			s.y = append(s.y, f(smp, c.String()))
		}
		out = append(out, s)
	}
	return out
}

// reportChart is one row of the HTML report: the same chart for every run, on one scale.
type reportChart struct {
	Title string
	SVGs  []template.HTML
}

// WriteHTML writes the report as a page with a table and charts per run, runs side by side.
func (rep *LoadReport) WriteHTML(w io.Writer) error {
	type def struct {
		title, unit string
		lines       func(*LoadResult) []series
	}
	defs := []def{
		{"Goodput: successful operations per second, by class", "ops/s", func(r *LoadResult) []series {
			return perClass(r, func(s Sample, c string) float64 { return float64(s.OK[c]) })
		}},
		{"Shed: 503/429 or held back by the client, per second", "ops/s", func(r *LoadResult) []series {
			return perClass(r, func(s Sample, c string) float64 { return float64(s.Shed[c]) })
		}},
		{"Server: work shed per second (its /metrics; typing included)", "ops/s", func(r *LoadResult) []series {
			return perClass(r, func(s Sample, c string) float64 { return float64(s.ServerShed[c]) })
		}},
		{"Errors (time-outs, unavailable) per second", "ops/s", func(r *LoadResult) []series {
			return perClass(r, func(s Sample, c string) float64 { return float64(s.Errors[c]) })
		}},
		{"p99 latency of successful operations", "ms", func(r *LoadResult) []series {
			return perClass(r, func(s Sample, c string) float64 { return s.P99Ms[c] })
		}},
		{"Server memory (RSS)", "MiB", func(r *LoadResult) []series {
			s := series{name: "RSS", color: "#6c3483"}
			for _, smp := range r.Timeline {
				s.y = append(s.y, float64(smp.RSSBytes)/(1<<20))
			}
			return []series{s}
		}},
		{"Adaptive limit and requests waiting", "requests", func(r *LoadResult) []series {
			l := series{name: "limit", color: "#117a65"}
			q := series{name: "queued", color: "#d35400"}
			for _, smp := range r.Timeline {
				l.y = append(l.y, float64(smp.Limit))
				q.y = append(q.y, float64(smp.Queued))
			}
			return []series{l, q}
		}},
	}
	var charts []reportChart
	for _, d := range defs {
		ymax := 0.0
		for _, r := range rep.Runs {
			for _, s := range d.lines(r) {
				for _, v := range s.y {
					ymax = max(ymax, v)
				}
			}
		}
		c := reportChart{Title: d.title}
		for _, r := range rep.Runs {
			c.SVGs = append(c.SVGs, chart(d.title, d.unit, r, d.lines(r), ymax))
		}
		charts = append(charts, c)
	}
	return reportPage.Execute(w, map[string]any{"R": rep, "Charts": charts})
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"mib": func(b int64) int64 { return b >> 20 },
	"f1":  func(v float64) string { return fmt.Sprintf("%.1f", v) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Haetae surge report</title>
<style>
body{font-family:sans-serif;margin:20px;color:#222}
table{border-collapse:collapse;margin:6px 0 14px;font-size:11px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f2f3f4} td.l,th.l{text-align:left}
.runs{display:flex;gap:24px;align-items:flex-start}
.run{flex:1;min-width:470px}
h2{font-size:16px;margin:10px 0 4px}
.crit{color:#c0392b}.norm{color:#2471a3}.shed{color:#7f8c8d}
</style></head><body>
<h1>Haetae surge report</h1>
<p><code>{{.R.Command}}</code> · {{.R.When.Format "2006-01-02 15:04 MST"}} · {{.R.CPUs}} CPUs {{.R.CPU}}</p>
<div class="runs">{{range .R.Runs}}<div class="run">
<h2>{{.Label}}</h2>
<p>{{.Users}} clients, {{.Factor}}× in the surge, {{.Rate}} operations/s each{{if not .StatusServed}}; no status polls (GET /v1/status not served){{end}}.
Acknowledged sends: <b>{{.Acked}}</b>, missing from history afterwards: <b>{{.Lost}}</b>.
Peak RSS <b>{{mib .PeakRSSBytes}} MiB</b> ({{.RSSScope}}). Typing notices written per phase: {{.Typing}}.
Queues empty {{if ge .DrainSeconds 0.0}}{{f1 .DrainSeconds}} s after the surge{{else}}— not seen{{end}}.</p>
<table><tr><th class="l">phase</th><th class="l">class</th><th>offered</th><th>ok</th><th>goodput/s</th><th>p50 ms</th><th>p99 ms</th><th>shed</th><th>errors</th><th>busy</th></tr>
{{range .Phases}}<tr><td class="l">{{.Phase}}</td><td class="l">{{.Class}}</td><td>{{.Offered}}</td><td>{{.OK}}</td><td>{{f1 .Goodput}}</td><td>{{f1 .P50Ms}}</td><td>{{f1 .P99Ms}}</td><td>{{.Shed}}</td><td>{{.Errors}}</td><td>{{.Busy}}</td></tr>
{{end}}</table></div>{{end}}</div>
{{range .Charts}}<div class="runs">{{range .SVGs}}<div class="run">{{.}}</div>{{end}}</div>
{{end}}
<p>Classes: <span class="crit">critical</span> (message sends), <span class="norm">normal</span> (history, room lists),
<span class="shed">sheddable</span> (typing notices, read receipts, status polls). Shed counts what the clients saw as 503
overloaded or 429, or held back themselves (adaptive throttle, retry budget). Typing notices are written and forgotten,
so they are not in the client figures; the server's shed chart counts those it dropped. Busy: not started because the client already had its maximum of operations in flight.</p>
</body></html>
`))
