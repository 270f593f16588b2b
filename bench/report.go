package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Print writes the result for people: the HTTP measurement, then one throughput table with the HTTP
// figure and the JetStream references side by side, then any problems.
func (r *Result) Print(w io.Writer) error {
	c, h := r.Config, r.HTTP
	var b strings.Builder
	rate := "as fast as acknowledged"
	if c.Rate > 0 {
		rate = fmt.Sprintf("target %s msgs/s", thousands(c.Rate))
	}
	fmt.Fprintf(&b, "haetae bench: %d clients, %d messages of %d bytes to %d rooms, %d subscribers, %s, cap %s\n",
		c.Clients, c.Messages, c.TextBytes, c.Rooms, c.Subscribers, rate, c.Duration)
	server := "in-process node, fsync always"
	if !c.InProcess {
		server = strings.Join(c.Servers, ",")
	}
	fmt.Fprintf(&b, "server: %s; machine: %d CPUs, %s\n\n", server, c.CPUs, c.CPUModel)

	b.WriteString("HTTP API\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  acknowledged\t%d of %d sent, %d errors, in %.2fs: %s msgs/s\n", h.Acked, h.Sent, h.Errors, h.Seconds, thousands(h.AckedPerSec))
	fmt.Fprintf(tw, "  send latency\tp50 %s  p99 %s  max %s\n", ms(h.SendP50Ms), ms(h.SendP99Ms), ms(h.SendMaxMs))
	if c.Subscribers > 0 {
		fmt.Fprintf(tw, "  delivery latency\tp50 %s  p99 %s  max %s  (send start to WebSocket receipt)\n", ms(h.DeliveryP50Ms), ms(h.DeliveryP99Ms), ms(h.DeliveryMaxMs))
		fmt.Fprintf(tw, "  deliveries\t%d of %d expected; %d missing, %d duplicates, %d out of order\n", h.Deliveries, h.Expected, h.Missing, h.Duplicates, h.OutOfOrder)
	}
	if h.PeakRSSBytes > 0 {
		fmt.Fprintf(tw, "  peak RSS\t%.1f MiB (%s)\n", float64(h.PeakRSSBytes)/(1<<20), h.RSSScope)
	} else {
		fmt.Fprintf(tw, "  peak RSS\tunknown (no /proc/self/status)\n")
	}
	tw.Flush()

	b.WriteString("\nacknowledged messages per second\n")
	row := func(path, fsync, rate string, acked int, secs float64) {
		fmt.Fprintf(&b, "  %-40s %-8s %9s %8d %8.2f\n", path, fsync, rate, acked, secs)
	}
	fmt.Fprintf(&b, "  %-40s %-8s %9s %8s %8s\n", "path", "fsync", "msgs/s", "acked", "seconds")
	fsync := "always"
	if !c.InProcess {
		fsync = "server's" // the remote node's setting is not known here
	}
	label := fmt.Sprintf("HTTP API send, %d clients", c.Clients)
	if c.Batch > 1 {
		label = fmt.Sprintf("HTTP API batches of %d, %d clients", c.Batch, c.Clients)
	}
	row(label, fsync, thousands(h.AckedPerSec), h.Acked, h.Seconds)
	if !c.InProcess && len(r.Refs) > 0 {
		b.WriteString("  (HTTP against a remote server; the references below ran on this machine)\n")
	}
	for _, ref := range r.Refs {
		rate := thousands(ref.PerSec)
		if ref.Error != "" {
			rate = "failed"
		}
		row(ref.Name, ref.Fsync, rate, ref.Acked, ref.Seconds)
	}
	if len(r.Refs) == 0 {
		b.WriteString("  (JetStream references skipped)\n")
	}
	if p := r.Problems(); len(p) > 0 {
		b.WriteString("\nPROBLEMS\n")
		for _, s := range p {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ms(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	default:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
}

// thousands formats a rate as a whole number with thousands separators: 12,345.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
