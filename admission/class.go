// Package admission decides which work a node takes when it is offered more than it can do. Every
// request and WebSocket frame has a priority class ([ClassOf], [FrameClass]); a [Limiter] admits work up
// to an adaptive concurrency limit driven by measured latency, queues the rest by class with a deadline
// per class, serves the highest class first, and sheds the lowest class first — before the work is done,
// never after. A [RateLimiter] holds each client to its own rate. It knows routes and frames only by
// name: it must not import net/http or JetStream, so its rules are plain functions that tests call
// directly.
package admission

import "fmt"

// Class is the priority of a piece of work. A higher class is served first and shed last.
type Class int

const (
	// Sheddable work can be dropped with little harm: typing notices, read receipts, status polling by
	// bots. It is shed first.
	Sheddable Class = iota
	// Normal work is what people wait for but can retry: history, room lists, gift and rental reads,
	// logins.
	Normal
	// Critical work must keep going through a surge: message sends, gift redemptions, rental returns
	// and vehicle events. It is queued longest and shed last.
	Critical
	// Exempt work is never queued or shed by the limiter: health probes, metrics and operator
	// endpoints, which must answer most of all when a node is overloaded, and a live unsubscribe, which
	// frees work.
	Exempt
)

// numClasses counts the classes the limiter queues (Exempt is not queued).
const numClasses = 3

// Classes lists the limited classes from the highest to the lowest.
var Classes = []Class{Critical, Normal, Sheddable}

func (c Class) String() string {
	switch c {
	case Sheddable:
		return "sheddable"
	case Normal:
		return "normal"
	case Critical:
		return "critical"
	case Exempt:
		return "exempt"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// ParseClass reads a class's name as [Class.String] writes it.
func ParseClass(s string) (Class, error) {
	for _, c := range []Class{Sheddable, Normal, Critical, Exempt} {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown priority class %q: use critical, normal, sheddable or exempt", s)
}

// routeClasses maps route names (the operationIds of docs/openapi.yaml and the route label of the
// metrics) to classes. Routes of services still to come are named here so that they slot in with the
// right class when they are added.
var routeClasses = map[string]Class{
	// critical: the work a surge must not stop
	"send":          Critical,
	"send_batch":    Critical,
	"redeem_gift":   Critical,
	"return_rental": Critical,
	"vehicle_event": Critical,

	// normal: reads and writes people wait for, and can retry
	"history":         Normal,
	"list_rooms":      Normal,
	"create_room":     Normal,
	"add_member":      Normal,
	"create_user":     Normal,
	"create_session":  Normal,
	"live":            Normal,
	"endpoints":       Normal,
	"send_gift":       Normal,
	"web_app":         Normal,
	"list_gifts":      Normal,
	"get_gift":        Normal,
	"create_rental":   Normal,
	"list_rentals":    Normal,
	"get_rental":      Normal,
	"get_incident":    Normal,
	"not_found":       Normal,
	"create_merchant": Normal,
	"create_vehicle":  Normal,

	// sheddable: nobody loses anything if these wait for the surge to pass
	"mark_read":      Sheddable,
	"status":         Sheddable,
	"incidents_atom": Sheddable,
	"list_incidents": Sheddable,

	// exempt: probes, metrics, the operator's levers, and the status page people open when a node sheds
	// (served from the node's own copy, cheap)
	"healthz":             Exempt,
	"readyz":              Exempt,
	"metrics":             Exempt,
	"admin_drain":         Exempt,
	"create_incident":     Exempt,
	"add_incident_update": Exempt,
	"list_webhooks":       Exempt,
	"create_webhook":      Exempt,
	"delete_webhook":      Exempt,
	"status_page":         Exempt,
	"status_css":          Exempt,
}

// ClassOf returns the class of a route by its name. A route it does not know is normal: a new endpoint
// is neither starved nor allowed to crowd out sends before someone decides its class.
func ClassOf(route string) Class {
	if c, ok := routeClasses[route]; ok {
		return c
	}
	return Normal
}

// FrameClass returns the class of a client frame on the live WebSocket by its type. A subscribe is a
// read (its catch-up reads history); a typing notice is sheddable; an unsubscribe frees work and is never
// refused. Unknown types are normal (they are answered with an error frame).
func FrameClass(frameType string) Class {
	switch frameType {
	case "typing":
		return Sheddable
	case "unsubscribe":
		return Exempt
	}
	return Normal
}
