// Package jsstore implements Haetae's services on NATS JetStream: every piece of state is a stream or a
// KV bucket, replicated by JetStream itself. What this package keeps in memory (room cache, token cache,
// the live tail position) is a cache rebuilt from JetStream; losing it loses nothing.
//
// Data model (see docs/architecture.md):
//   - HAETAE_MSGS_<n>: the messages of every room hashed to shard n, subject haetae.msg.<n>.<room>.
//     Stream sequence = message seq. Nats-Msg-Id = room/from/client_id makes sends idempotent.
//   - KV haetae_users: u.<name> → user record with the argon2id hash.
//   - KV haetae_sessions: t.<sha256(token)> → session; the bucket's TTL expires them.
//   - KV haetae_rooms: room.<id> → room record; member.<user>.<id> → index for listing;
//     read.<user>.<id> → read position.
//   - KV haetae_gifts: gift.<code> → gift; u.<user>.<code> → index for listing; send.<sender>.<client_id>
//     and redeem.<merchant>.<key> → idempotency records. See gifts.go for how exactly-once is kept.
//   - KV haetae_incidents: inc.<id> → incident; hook.<id> → webhook subscriber.
//
// No stream and no consumer per room or per user: a million rooms are a million subjects.
package jsstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/haetae/haetae"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config sets how the store lays out and replicates its data.
type Config struct {
	// Replicas of every stream and bucket: 1 on a single node, 3 across three data centers.
	Replicas int
	// Shards is how many message streams new rooms are hashed over. Existing rooms keep their shard.
	Shards int
	// DedupeWindow is how long a message's client_id is remembered by JetStream's duplicate tracking.
	DedupeWindow time.Duration
	// SessionTTL is how long a token is accepted.
	SessionTTL time.Duration
	// GiftTTL is how long a gift may be redeemed after it is sent.
	GiftTTL time.Duration
	// GiftRetention is how long gifts, and the idempotency records of their sends and redemptions,
	// are kept after GiftTTL: the gifts bucket's max age is GiftTTL + GiftRetention.
	GiftRetention time.Duration
	// DC and NodeName name where this node runs; a redemption records them.
	DC, NodeName string
	// BatchMax caps the messages committed in one atomic batch (one fsync).
	BatchMax int
	// BatchWorkers is how many batches may be in flight at once per shard.
	BatchWorkers int
	// LiveBuffer is how many messages a live subscription may have queued before its reader counts as a
	// slow consumer and is told to resume from its cursor.
	LiveBuffer int
	// RequestTimeout bounds every JetStream call that has no deadline of its own.
	RequestTimeout time.Duration
	// Argon2 cost of password hashes.
	Argon2 Argon2Params
	Limits haetae.Limits
	Now    func() time.Time
	Logger *slog.Logger
	// OnCommit, when set, is told the size and duration of every committed batch (for metrics).
	OnCommit func(messages int, took time.Duration)
	// OnDeliver, when set, is told how many messages the live hub handed to subscribers.
	OnDeliver func(n int)
	// Quorum, when set, says whether this node can take writes now (in a cluster: whether it reaches a
	// majority). A commit caught by the loss of the majority is answered no_quorum as soon as the node
	// knows, instead of waiting out the request timeout, so its client fails over seconds sooner.
	Quorum func() error
	// OpenOnly makes Open use the streams and buckets as they are instead of creating or updating them,
	// failing if one is missing. In a cluster only one node (the JetStream meta leader) provisions:
	// nats-server 2.15 left concurrent creations of the same stream from several servers unanswered
	// (measured: every creator timed out), so the others wait for the streams to appear.
	OpenOnly bool
}

// Validate says what is wrong with a configuration, in the words of its flags.
func (c Config) Validate() error {
	l := c.Limits
	switch {
	case c.Shards < 1 || c.Shards > 64:
		return fmt.Errorf("shards must be 1 to 64, not %d", c.Shards)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("replicas must be 1 to 5, not %d", c.Replicas)
	case c.BatchMax < 1 || c.BatchMax > 10000:
		return fmt.Errorf("batch-max must be 1 to 10000, not %d", c.BatchMax)
	case c.BatchWorkers < 1:
		return fmt.Errorf("batch workers must be at least 1")
	case c.DedupeWindow < time.Second:
		return fmt.Errorf("dedupe-window must be at least 1s, not %s", c.DedupeWindow)
	case c.SessionTTL < time.Minute:
		return fmt.Errorf("session-ttl must be at least 1m, not %s", c.SessionTTL)
	case c.GiftTTL < time.Second:
		return fmt.Errorf("gift-ttl must be at least 1s, not %s", c.GiftTTL)
	case c.GiftRetention < 24*time.Hour:
		return fmt.Errorf("gift retention must be at least 24h (idempotency keys are remembered that long), not %s", c.GiftRetention)
	case c.LiveBuffer < 1:
		return fmt.Errorf("live buffer must be at least 1")
	case c.RequestTimeout < time.Millisecond:
		return fmt.Errorf("request timeout must be positive")
	case l.TextMax < 1 || l.TextMax > 60000:
		return fmt.Errorf("max-text must be 1 to 60000, not %d", l.TextMax)
	case l.MembersMax < 1 || l.MembersMax > 10000:
		return fmt.Errorf("max-members must be 1 to 10000, not %d", l.MembersMax)
	case l.RoomsMax < 1 || l.RoomsMax > 100000:
		return fmt.Errorf("max-rooms must be 1 to 100000, not %d", l.RoomsMax)
	case l.BodyMax < 1024 || l.BodyMax > 1<<20:
		return fmt.Errorf("max-body must be 1024 to %d bytes, not %d", 1<<20, l.BodyMax)
	case l.NameMin < 1 || l.NameMax < l.NameMin || l.ClientIDMax < 1 || l.HistoryMax < 1 || l.HistoryDefault < 1 || l.HistoryDefault > l.HistoryMax:
		return fmt.Errorf("inconsistent limits: %+v", l)
	}
	return nil
}

// NeededBatchSize is the largest atomic batch the store sends: a batch of messages, or a full room with
// its member index. The NATS server's JetStream MaxBatchSize must be at least this.
func (c Config) NeededBatchSize() int { return max(c.BatchMax, c.Limits.MembersMax+1) }

// DefaultConfig is the single-node configuration.
func DefaultConfig() Config {
	return Config{
		Replicas:       1,
		Shards:         1,
		DedupeWindow:   15 * time.Minute,
		SessionTTL:     7 * 24 * time.Hour,
		GiftTTL:        90 * 24 * time.Hour,
		GiftRetention:  30 * 24 * time.Hour,
		NodeName:       "haetae",
		BatchMax:       256,
		BatchWorkers:   1,
		LiveBuffer:     4096,
		RequestTimeout: 10 * time.Second,
		Argon2:         DefaultArgon2,
		Limits:         haetae.DefaultLimits,
		Now:            time.Now,
		Logger:         slog.Default(),
	}
}

// Store holds the JetStream handles shared by the services.
type Store struct {
	cfg       Config
	nc        *nats.Conn
	js        jetstream.JetStream
	users     jetstream.KeyValue
	sessions  jetstream.KeyValue
	rooms     jetstream.KeyValue
	gifts     jetstream.KeyValue
	incidents jetstream.KeyValue

	Users    *UserService
	Rooms    *RoomService
	Messages *MessageService
	Live     *Hub
	Gifts    *GiftService
	// Incidents is the incident history and the webhook subscribers (see incidents.go).
	Incidents *IncidentStore

	// streams lists, in the order Open made them, every stream the store keeps (buckets' included).
	streams []string
	quorum  *quorumWatch
}

const (
	usersBucket    = "haetae_users"
	sessionsBucket = "haetae_sessions"
	roomsBucket    = "haetae_rooms"
	giftsBucket    = "haetae_gifts"
	msgStreamFmt   = "HAETAE_MSGS_%d"
	msgSubjectFmt  = "haetae.msg.%d.%s"
	tickSubjectFmt = "haetae.tick.%d"
	eventSubject   = "haetae.ev.%s"
)

// Open creates or updates the streams and buckets and starts the services' background work (batchers,
// the live tail). Close stops it.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// An async publish whose acknowledgement never comes (its leader died) must end, or its slot in the
	// client's window of pending acknowledgements is never given back.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(commitAttempt))
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, nc: nc, js: js}
	if s.users, err = s.bucket(ctx, jetstream.KeyValueConfig{Bucket: usersBucket, Description: "haetae user accounts"}); err != nil {
		return nil, err
	}
	if s.sessions, err = s.bucket(ctx, jetstream.KeyValueConfig{Bucket: sessionsBucket, Description: "haetae sessions by token hash", TTL: cfg.SessionTTL}); err != nil {
		return nil, err
	}
	if s.rooms, err = s.bucket(ctx, jetstream.KeyValueConfig{Bucket: roomsBucket, Description: "haetae rooms, membership index, read positions"}); err != nil {
		return nil, err
	}
	// A room and its member index are written together in atomic batches.
	if err := s.allowAtomic(ctx, "KV_"+roomsBucket); err != nil {
		return nil, err
	}
	for i := 0; i < cfg.Shards; i++ {
		if err := s.messageStream(ctx, i); err != nil {
			return nil, err
		}
	}
	// Made after the older streams, so that their positions in Streams (leader spreading) stay.
	if s.gifts, err = s.bucket(ctx, jetstream.KeyValueConfig{Bucket: giftsBucket, Description: "haetae gift coupons, their index and idempotency records", TTL: cfg.GiftTTL + cfg.GiftRetention}); err != nil {
		return nil, err
	}
	// A gift and its idempotency record are written together in atomic batches.
	if err := s.allowAtomic(ctx, "KV_"+giftsBucket); err != nil {
		return nil, err
	}
	// The newest bucket comes last, for the same reason.
	if s.incidents, err = s.bucket(ctx, jetstream.KeyValueConfig{Bucket: incidentsBucket, Description: "haetae incident history and webhook subscribers"}); err != nil {
		return nil, err
	}
	s.Users = &UserService{s: s, cache: newTokenCache(50000), roles: newRoleCache(100000)}
	s.Rooms = &RoomService{s: s, cache: newRoomCache(200000)}
	s.quorum = startQuorumWatch(cfg.Quorum)
	s.Messages = newMessageService(s)
	s.Gifts = &GiftService{s: s}
	s.Incidents = &IncidentStore{s: s}
	s.Live, err = newHub(s)
	if err != nil {
		s.Messages.close()
		s.quorum.stop()
		return nil, err
	}
	return s, nil
}

// Close stops the background work. In-flight sends are finished or failed first.
func (s *Store) Close() {
	s.Messages.close()
	s.Live.close()
	s.quorum.stop()
}

func (s *Store) bucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if s.cfg.OpenOnly {
		kv, err := s.js.KeyValue(ctx, cfg.Bucket)
		if err != nil {
			return nil, fmt.Errorf("open bucket %s: %w", cfg.Bucket, err)
		}
		s.streams = append(s.streams, "KV_"+cfg.Bucket)
		return kv, nil
	}
	cfg.Replicas = s.cfg.Replicas
	cfg.Storage = jetstream.FileStorage
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
	}
	s.streams = append(s.streams, "KV_"+cfg.Bucket)
	return kv, nil
}

func (s *Store) messageStream(ctx context.Context, shard int) error {
	cfg := jetstream.StreamConfig{
		Name:               fmt.Sprintf(msgStreamFmt, shard),
		Description:        "haetae chat messages of the rooms hashed to this shard",
		Subjects:           []string{fmt.Sprintf("haetae.msg.%d.*", shard)},
		Storage:            jetstream.FileStorage,
		Replicas:           s.cfg.Replicas,
		Duplicates:         s.cfg.DedupeWindow,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardOld,
		MaxMsgSize:         int32(s.cfg.Limits.BodyMax) + 4096, // a message's JSON is never larger than the body it came in
	}
	if s.cfg.OpenOnly {
		if _, err := s.js.Stream(ctx, cfg.Name); err != nil {
			return fmt.Errorf("open stream %s: %w", cfg.Name, err)
		}
	} else if _, err := s.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	s.streams = append(s.streams, cfg.Name)
	return nil
}

// allowAtomic turns on atomic batch publishing for a stream that a KV bucket made.
func (s *Store) allowAtomic(ctx context.Context, name string) error {
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", name, err)
	}
	cfg := st.CachedInfo().Config
	if cfg.AllowAtomicPublish {
		return nil
	}
	if s.cfg.OpenOnly {
		return fmt.Errorf("stream %s does not allow atomic batches yet", name)
	}
	cfg.AllowAtomicPublish = true
	if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("allow atomic batches on %s: %w", name, err)
	}
	return nil
}

// timeout returns ctx bounded by the store's request timeout.
func (s *Store) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// subjectToken turns a user name into a subject token: names may hold '.', which splits tokens, and
// never hold '=', so the mapping is one to one.
func subjectToken(name string) string { return strings.ReplaceAll(name, ".", "=") }

// outOfResources reports whether JetStream refused a write for lack of memory or disk (503/10023,
// 10047): the operator's problem, not the client's, and not a bug either.
func outOfResources(err error) bool {
	var je *jetstream.APIError
	if errors.As(err, &je) {
		return je.Code == 503 || je.ErrorCode == 10023 || je.ErrorCode == 10047
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code == 503 || ae.errCode == 10023 || ae.errCode == 10047
	}
	return false
}

// storeErr turns a JetStream failure into an application error: time-outs and missing responders mean
// the store cannot be reached now (503), anything else is internal.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var he *haetae.Error
	if errors.As(err, &he) {
		return err
	}
	if transient(err) || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrNoHeartbeat) {
		return &haetae.Error{Code: haetae.EUnavailable, Op: op, Message: "the message store did not answer in time; retry", Err: err}
	}
	if outOfResources(err) {
		return &haetae.Error{Code: haetae.EUnavailable, Op: op, Message: "the message store is out of resources; retry later", Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &haetae.Error{Code: haetae.EUnavailable, Op: op, Message: "request canceled", Err: err}
	}
	return &haetae.Error{Code: haetae.EInternal, Op: op, Err: err}
}

// transient reports whether a failed write may succeed if simply sent again: it got no answer in time, or
// nobody answered because the stream has no leader at the moment (an election after a node was lost).
// Only writes carrying a message id or an expected revision may be sent again on this ground.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) {
		return true
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return transientCode(ae.errCode)
	}
	var je *jetstream.APIError
	return errors.As(err, &je) && transientCode(int(je.ErrorCode))
}

// transientCode reports the JetStream error codes that describe a passing state, not the request:
// 10008, the cluster has no leader yet; 10158, an earlier attempt with the same message id is still
// being proposed (seen after a partition heals: a retry of a send that was in flight when the node was
// cut off), so sending again soon gets the deduplicated answer.
func transientCode(code int) bool { return code == 10008 || code == 10158 }

// retryWait is the pause before sending a transiently failed write again: short at first, since an
// election takes seconds and every retry is cheap, and never long, so the write lands soon after a new
// leader is elected.
func retryWait(attempt int) time.Duration {
	d := min(50*time.Millisecond<<min(attempt, 8), 250*time.Millisecond)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Streams names every stream the store keeps, the KV buckets' included, in the order Open made them:
// the units JetStream replicates, places and elects leaders for. The order is the same on every node,
// which is what spreading leaders by position needs; a new bucket is made after the older ones.
func (s *Store) Streams() []string { return slices.Clone(s.streams) }
