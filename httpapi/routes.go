package httpapi

import "net/http"

// routes lists every endpoint of the API. docs/openapi.yaml describes the same set.
func (s *Server) routes() {
	s.handle("/v1/users", map[string]method{
		http.MethodPost: {write: true, name: "create_user", h: s.handleCreateUser},
	})
	s.handle("/v1/sessions", map[string]method{
		http.MethodPost: {write: true, name: "create_session", h: s.handleCreateSession},
	})
	s.handle("/v1/rooms", map[string]method{
		http.MethodGet:  {auth: true, name: "list_rooms", h: s.handleListRooms},
		http.MethodPost: {auth: true, write: true, name: "create_room", h: s.handleCreateRoom},
	})
	s.handle("/v1/rooms/{room}/members", map[string]method{
		http.MethodPost: {auth: true, write: true, name: "add_member", h: s.handleAddMember},
	})
	s.handle("/v1/rooms/{room}/messages", map[string]method{
		http.MethodGet:  {auth: true, name: "history", h: s.handleHistory},
		http.MethodPost: {auth: true, write: true, name: "send", h: s.handleSend},
	})
	s.handle("/v1/rooms/{room}/messages/batch", map[string]method{
		http.MethodPost: {auth: true, write: true, name: "send_batch", h: s.handleSendBatch},
	})
	s.handle("/v1/rooms/{room}/read", map[string]method{
		http.MethodPost: {auth: true, write: true, name: "mark_read", h: s.handleMarkRead},
	})
	s.handle("/v1/merchants", map[string]method{
		http.MethodPost: {admin: true, write: true, name: "create_merchant", h: s.handleCreateMerchant},
	})
	s.handle("/v1/gifts", map[string]method{
		http.MethodGet:  {auth: true, name: "list_gifts", h: s.handleListGifts},
		http.MethodPost: {auth: true, write: true, name: "send_gift", h: s.handleSendGift},
	})
	s.handle("/v1/gifts/{code}", map[string]method{
		http.MethodGet: {auth: true, name: "get_gift", h: s.handleGetGift},
	})
	s.handle("/v1/gifts/{code}/redeem", map[string]method{
		http.MethodPost: {auth: true, write: true, name: "redeem_gift", h: s.handleRedeem},
	})
	s.handle("/v1/vehicles", map[string]method{
		http.MethodPost: {admin: true, write: true, name: "create_vehicle", h: s.handleCreateVehicle},
	})
	// A vehicle authenticates with its own token, which the handler checks.
	s.handle("/v1/vehicles/{vehicle}/events", map[string]method{
		http.MethodPost: {write: true, name: "vehicle_event", h: s.handleVehicleEvent},
	})
	s.handle("/v1/rentals", map[string]method{
		http.MethodGet:  {auth: true, name: "list_rentals", h: s.handleListRentals},
		http.MethodPost: {auth: true, write: true, name: "create_rental", h: s.handleCreateRental},
	})
	s.handle("/v1/rentals/{id}", map[string]method{
		http.MethodGet: {auth: true, name: "get_rental", h: s.handleGetRental},
	})
	s.handle("/v1/rentals/{id}/return", map[string]method{
		http.MethodPost: {auth: true, write: true, name: "return_rental", h: s.handleReturnRental},
	})
	s.handle("/v1/live", map[string]method{
		http.MethodGet: {name: "live", h: s.handleLive},
	})
	s.handle("/v1/endpoints", map[string]method{
		http.MethodGet: {name: "endpoints", h: s.handleEndpoints},
	})
	s.handle("/v1/admin/drain", map[string]method{
		http.MethodPost: {admin: true, name: "admin_drain", h: s.handleDrain},
	})
	s.handle("/status", map[string]method{
		http.MethodGet: {name: "status_page", h: s.withIncidents(s.handleStatusPage)},
	})
	s.handle("/status.css", map[string]method{
		http.MethodGet: {name: "status_css", h: s.handleStatusCSS},
	})
	s.handle("/v1/status", map[string]method{
		http.MethodGet: {name: "status", h: s.withIncidents(s.handleStatus)},
	})
	s.handle("/v1/incidents", map[string]method{
		http.MethodGet:  {name: "list_incidents", h: s.withIncidents(s.handleListIncidents)},
		http.MethodPost: {admin: true, write: true, name: "create_incident", h: s.withIncidents(s.handleCreateIncident)},
	})
	s.handle("/v1/incidents.atom", map[string]method{
		http.MethodGet: {name: "incidents_atom", h: s.withIncidents(s.handleIncidentsAtom)},
	})
	s.handle("/v1/incidents/{id}", map[string]method{
		http.MethodGet: {name: "get_incident", h: s.withIncidents(s.handleGetIncident)},
	})
	s.handle("/v1/incidents/{id}/updates", map[string]method{
		http.MethodPost: {admin: true, write: true, name: "add_incident_update", h: s.withIncidents(s.handleAddIncidentUpdate)},
	})
	s.handle("/v1/webhooks", map[string]method{
		http.MethodGet:  {admin: true, name: "list_webhooks", h: s.withIncidents(s.handleListWebhooks)},
		http.MethodPost: {admin: true, write: true, name: "create_webhook", h: s.withIncidents(s.handleCreateWebhook)},
	})
	s.handle("/v1/webhooks/{id}", map[string]method{
		http.MethodDelete: {admin: true, write: true, name: "delete_webhook", h: s.withIncidents(s.handleDeleteWebhook)},
	})
	s.handle("/app/", map[string]method{
		http.MethodGet: {name: "web_app", h: s.handleApp},
	})
	s.handle("/healthz", map[string]method{
		http.MethodGet: {name: "healthz", h: s.handleHealthz},
	})
	s.handle("/readyz", map[string]method{
		http.MethodGet: {name: "readyz", h: s.handleReadyz},
	})
	s.handle("/metrics", map[string]method{
		http.MethodGet: {name: "metrics", h: s.handleMetrics},
	})
	// Everything else, whatever the method, is a JSON 404.
	s.handle("/", map[string]method{
		anyMethod: {name: "not_found", h: s.handleNotFound},
	})
}
