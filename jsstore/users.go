package jsstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/argon2"
)

// Argon2Params is the cost of an argon2id password hash.
type Argon2Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultArgon2 follows OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane).
var DefaultArgon2 = Argon2Params{Time: 2, Memory: 19 * 1024, Threads: 1}

// hashSlots bounds concurrent argon2 runs so that a burst of logins cannot use memory without limit.
var hashSlots = make(chan struct{}, 4)

type userRecord struct {
	Name      string       `json:"name"`
	Salt      []byte       `json:"salt"`
	Hash      []byte       `json:"hash"`
	Params    Argon2Params `json:"params"`
	CreatedAt time.Time    `json:"created_at"`
	// Role is "" for ordinary users and haetae.RoleMerchant for merchants. It is set when the account
	// is made and never changes.
	Role string `json:"role,omitempty"`
}

type sessionRecord struct {
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
	// Role is the user's role as of the login ("user" for none), so that a node that authenticates the
	// token knows it without reading the user record; "" in sessions made before roles existed.
	Role string `json:"role,omitempty"`
}

// roleUser stands for "no role" in a session record, where "" means "not recorded".
const roleUser = "user"

// UserService implements [haetae.UserService] on the users and sessions buckets.
type UserService struct {
	s     *Store
	cache *tokenCache
	roles *roleCache
}

var _ haetae.UserService = (*UserService)(nil)

func hashPassword(ctx context.Context, p Argon2Params, salt []byte, pw string) ([]byte, error) {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, storeErr("hash password", ctx.Err())
	}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, 32), nil
}

// CreateUser implements [haetae.UserService].
func (u *UserService) CreateUser(ctx context.Context, name, password string) error {
	return u.createUser(ctx, name, password, "")
}

// CreateMerchant implements [haetae.UserService].
func (u *UserService) CreateMerchant(ctx context.Context, name, password string) error {
	return u.createUser(ctx, name, password, haetae.RoleMerchant)
}

func (u *UserService) createUser(ctx context.Context, name, password, role string) error {
	lim := u.s.cfg.Limits
	if err := lim.ValidName(name); err != nil {
		return err
	}
	if err := lim.ValidPassword(password); err != nil {
		return err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	h, err := hashPassword(ctx, u.s.cfg.Argon2, salt, password)
	if err != nil {
		return err
	}
	rec, _ := json.Marshal(userRecord{Name: name, Salt: salt, Hash: h, Params: u.s.cfg.Argon2, CreatedAt: u.s.cfg.Now().UTC(), Role: role})
	ctx, cancel := u.s.timeout(ctx)
	defer cancel()
	if _, err := u.s.users.Create(ctx, "u."+subjectToken(name), rec); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return haetae.Errorf(haetae.ENameTaken, "the name %q is taken", name)
		}
		return storeErr("create user", err)
	}
	return nil
}

func (u *UserService) user(ctx context.Context, name string) (*userRecord, error) {
	if u.s.cfg.Limits.ValidName(name) != nil {
		return nil, nil // no such name can exist
	}
	ctx, cancel := u.s.timeout(ctx)
	defer cancel()
	e, err := u.s.kvGet(ctx, usersBucket, "u."+subjectToken(name))
	if err != nil {
		return nil, storeErr("get user", err)
	}
	if e == nil {
		return nil, nil
	}
	var rec userRecord
	if err := json.Unmarshal(e.Data, &rec); err != nil {
		return nil, storeErr("decode user", err)
	}
	return &rec, nil
}

// userExists is used by rooms to check members.
func (u *UserService) userExists(ctx context.Context, name string) (bool, error) {
	rec, err := u.user(ctx, name)
	return rec != nil, err
}

// dummySalt is hashed against when the user does not exist, so that timing does not reveal which names
// are registered.
var dummySalt = make([]byte, 16)

// CreateSession implements [haetae.UserService].
func (u *UserService) CreateSession(ctx context.Context, name, password string) (*haetae.Session, error) {
	if len(password) > u.s.cfg.Limits.PasswordMax {
		return nil, haetae.Errorf(haetae.EBadCredentials, "wrong name or password")
	}
	rec, err := u.user(ctx, name)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		hashPassword(ctx, u.s.cfg.Argon2, dummySalt, password)
		return nil, haetae.Errorf(haetae.EBadCredentials, "wrong name or password")
	}
	h, err := hashPassword(ctx, rec.Params, rec.Salt, password)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(h, rec.Hash) != 1 {
		return nil, haetae.Errorf(haetae.EBadCredentials, "wrong name or password")
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	u.roles.put(name, rec.Role)
	sess := sessionRecord{Name: name, ExpiresAt: u.s.cfg.Now().Add(u.s.cfg.SessionTTL).UTC().Truncate(time.Second), Role: cmp.Or(rec.Role, roleUser)}
	b, _ := json.Marshal(sess)
	ctx, cancel := u.s.timeout(ctx)
	defer cancel()
	if _, err := u.s.sessions.Put(ctx, "t."+tokenKey(token), b); err != nil {
		return nil, storeErr("create session", err)
	}
	return &haetae.Session{Token: token, ExpiresAt: sess.ExpiresAt}, nil
}

// tokenKey is what is stored of a token: its SHA-256, so a copy of the bucket grants no access.
func tokenKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Authenticate implements [haetae.UserService]. Sessions are cached for a minute: there is no logout, so
// a cached session is only ever stale by its expiry, which is checked on every use.
func (u *UserService) Authenticate(ctx context.Context, token string) (string, error) {
	if token == "" || len(token) > 256 {
		return "", haetae.Errorf(haetae.EUnauthorized, "a valid bearer token is required")
	}
	key := tokenKey(token)
	now := u.s.cfg.Now()
	if sess, ok := u.cache.get(key, now); ok {
		return sess.Name, nil
	}
	ctx, cancel := u.s.timeout(ctx)
	defer cancel()
	// A token issued a moment ago by another node may not be on this node's replica yet: kvGet asks
	// the leader before calling it unknown.
	e, err := u.s.kvGet(ctx, sessionsBucket, "t."+key)
	if err != nil {
		return "", storeErr("get session", err)
	}
	if e == nil {
		return "", haetae.Errorf(haetae.EUnauthorized, "the token is unknown or expired; log in again")
	}
	var sess sessionRecord
	if err := json.Unmarshal(e.Data, &sess); err != nil {
		return "", storeErr("decode session", err)
	}
	if !now.Before(sess.ExpiresAt) {
		return "", haetae.Errorf(haetae.EUnauthorized, "the token is unknown or expired; log in again")
	}
	u.cache.put(key, sess, now.Add(time.Minute))
	switch sess.Role {
	case "": // a session from before roles were recorded
	case roleUser:
		u.roles.put(sess.Name, "")
	default:
		u.roles.put(sess.Name, sess.Role)
	}
	return sess.Name, nil
}

// Role returns a user's role ("" for an ordinary user, haetae.RoleMerchant). Roles never change and
// accounts are never removed, so a role once known is cached for good: a login or an authentication
// on this node puts it there, and otherwise it costs one read of the user record.
func (u *UserService) Role(ctx context.Context, name string) (string, error) {
	if role, ok := u.roles.get(name); ok {
		return role, nil
	}
	rec, err := u.user(ctx, name)
	if err != nil {
		return "", err
	}
	if rec == nil {
		return "", nil // no such user has no role; not cached, the name may be registered later
	}
	u.roles.put(name, rec.Role)
	return rec.Role, nil
}

// roleCache remembers users' roles, bounded in size.
type roleCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]string
}

func newRoleCache(max int) *roleCache { return &roleCache{max: max, m: map[string]string{}} }

func (c *roleCache) get(name string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.m[name]
	return r, ok
}

func (c *roleCache) put(name, role string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k := range c.m { // evict an arbitrary tenth; a miss only costs a read
			delete(c.m, k)
			if len(c.m) < c.max*9/10 {
				break
			}
		}
	}
	c.m[name] = role
}

// tokenCache remembers validated sessions for a short while, bounded in size.
type tokenCache struct {
	mu  sync.Mutex
	max int
	m   map[string]cachedSession
}

type cachedSession struct {
	sessionRecord
	until time.Time
}

func newTokenCache(max int) *tokenCache { return &tokenCache{max: max, m: map[string]cachedSession{}} }

func (c *tokenCache) get(key string, now time.Time) (sessionRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ok := c.m[key]
	if !ok || !now.Before(cs.until) || !now.Before(cs.ExpiresAt) {
		return sessionRecord{}, false
	}
	return cs.sessionRecord, true
}

func (c *tokenCache) put(key string, s sessionRecord, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k := range c.m { // evict an arbitrary tenth; the cache is only a shortcut
			delete(c.m, k)
			if len(c.m) < c.max*9/10 {
				break
			}
		}
	}
	c.m[key] = cachedSession{s, until}
}
