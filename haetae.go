// Package haetae holds the domain of the Haetae messenger: its values (users, rooms, messages), the
// services that act on them, and the one error type every layer returns. It imports neither NATS nor
// net/http, so the rules here can be read and tested without either; adapters live in sibling packages
// named for what they wrap (jsstore for JetStream, httpapi for HTTP, client for the Go client).
package haetae

import (
	"context"
	"time"
)

// Message kinds. Only text is sent by users; gift and system messages are posted by services.
const (
	KindText   = "text"
	KindGift   = "gift"
	KindSystem = "system"
)

// Message is one committed chat message. Seq is its cursor: strictly increasing within a room, assigned by
// the store, never reused; it is the JetStream stream sequence of the room's shard, so it has gaps.
type Message struct {
	Room     string    `json:"room"`
	Seq      uint64    `json:"seq"`
	ClientID string    `json:"client_id"`
	From     string    `json:"from"`
	Kind     string    `json:"kind"`
	Text     string    `json:"text"`
	SentAt   time.Time `json:"sent_at"`
}

// Room is a chat as one member sees it: LastSeq and Unread are per caller.
type Room struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Members []string `json:"members"`
	LastSeq uint64   `json:"last_seq"`
	Unread  uint64   `json:"unread"`
}

// HasMember reports whether name is one of the room's members.
func (r *Room) HasMember(name string) bool {
	for _, m := range r.Members {
		if m == name {
			return true
		}
	}
	return false
}

// Endpoint is one node's public API as the cluster knows it: clients that know one node learn the
// others from GET /v1/endpoints and fail over to them.
type Endpoint struct {
	URL  string `json:"url"`
	DC   string `json:"dc"`
	Node string `json:"node"`
	// Self marks the node that answered.
	Self bool `json:"self"`
	// Ready says whether the node could take writes when it last announced itself.
	Ready bool `json:"ready"`
	// LastSeen is when the answering node last heard from it.
	LastSeen time.Time `json:"last_seen"`
}

// Session is a bearer token and when it stops being accepted.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// UserService keeps accounts and sessions.
type UserService interface {
	// CreateUser registers name. Errors: invalid_name, weak_password, name_taken.
	CreateUser(ctx context.Context, name, password string) error
	// CreateMerchant registers name as a merchant: a user who may redeem gifts. Errors: as CreateUser.
	CreateMerchant(ctx context.Context, name, password string) error
	// CreateSession checks the password and issues a token. Errors: bad_credentials.
	CreateSession(ctx context.Context, name, password string) (*Session, error)
	// Authenticate returns the user a token belongs to. Errors: unauthorized (unknown or expired).
	Authenticate(ctx context.Context, token string) (string, error)
}

// RoomService keeps rooms, their members and read receipts. A room that exists but does not have the
// caller as a member is reported as not_found, so existence is not revealed.
type RoomService interface {
	// CreateRoom makes a room whose members are the caller plus members. With an idempotency key, a
	// repeat by the same caller returns the room made first (created false), and a repeat with other
	// members or title is idempotency_conflict. Errors: invalid_name, invalid_client_id, too_many_members,
	// user_not_found, idempotency_conflict.
	CreateRoom(ctx context.Context, caller, idempotencyKey, title string, members []string) (room *Room, created bool, err error)
	// Rooms lists the caller's rooms with their last seq and unread count.
	Rooms(ctx context.Context, caller string) ([]*Room, error)
	// AddMember adds name to a room the caller is a member of. Errors: not_found, user_not_found,
	// too_many_members.
	AddMember(ctx context.Context, caller, room, name string) (*Room, error)
	// MarkRead records that caller has read room up to seq. Read positions never move back.
	// Errors: not_found.
	MarkRead(ctx context.Context, caller, room string, seq uint64) error
}

// HistoryQuery selects a page of a room: messages with After < seq, ascending, or, when Before is set,
// the Limit messages just below Before.
type HistoryQuery struct {
	After  uint64
	Before uint64
	Limit  int
}

// MessageService sends and reads messages.
type MessageService interface {
	// Send commits a text message. created is false when clientID was already used by the caller in that
	// room with the same text, and the original is returned. Errors: not_found, invalid_client_id,
	// invalid_text, idempotency_conflict, unavailable.
	Send(ctx context.Context, caller, room, clientID, text string) (msg *Message, created bool, err error)
	// SendBatch commits several text messages to one room at once, each with its own client_id, as
	// Send would one by one; they share commits. Each item has its own result: one bad item does not
	// fail the others. The batch itself fails only when the room is not the caller's (not_found) or it
	// holds no items or more than SendBatchMax (invalid).
	SendBatch(ctx context.Context, caller, room string, items []SendItem) ([]SendResult, error)
	// History returns a page of messages and the cursor for the next page. Errors: not_found.
	History(ctx context.Context, caller, room string, q HistoryQuery) ([]*Message, uint64, error)
}

// SendBatchMax is the most messages one SendBatch takes.
const SendBatchMax = 100

// SendItem is one message of a batch send.
type SendItem struct {
	ClientID string `json:"client_id"`
	Text     string `json:"text"`
}

// SendResult is the outcome of one item of a batch send: the message and whether this call created it,
// or the error that a Send of it alone would have returned.
type SendResult struct {
	Message *Message
	Created bool
	Err     error
}

// Event is an ephemeral room event, never stored: "typing", or "read" with the reader's seq.
type Event struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Name string `json:"name"`
	Seq  uint64 `json:"seq,omitempty"`
}

// Delivery is one item of a live subscription: a committed message or an event.
type Delivery struct {
	Message *Message
	Event   *Event
}

// Subscription is a live feed of one room. Deliveries yields every message after the cursor in seq
// order, then new ones as they commit, with events in between; it is closed when the subscription ends,
// and Err then says why (nil after Close; slow_consumer when the reader fell behind).
type Subscription interface {
	Deliveries() <-chan Delivery
	Err() error
	Close()
}

// LiveService starts live subscriptions and carries ephemeral events.
type LiveService interface {
	// Subscribe follows room for caller from the cursor after. Errors: not_found.
	Subscribe(ctx context.Context, caller, room string, after uint64) (Subscription, error)
	// Typing tells the room's live subscribers that caller is typing. Errors: not_found.
	Typing(ctx context.Context, caller, room string) error
}

// ESlowConsumer ends a live subscription whose reader fell too far behind. Nothing is lost: the client
// resumes from its cursor.
const ESlowConsumer = "slow_consumer"
