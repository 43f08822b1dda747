package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// session is the server-side state of a signed-in browser. Only a random
// id travels in the cookie; the store keys sessions by the id's SHA-256, so
// a leaked store does not hand out cookies.
type session struct {
	id        string    // the cookie value; not stored
	Token     string    `json:"token"`      // the API token the session acts with
	RootToken string    `json:"root_token"` // the token made at sign-in; revoked at sign-out
	UserID    string    `json:"user_id"`
	CSRF      string    `json:"csrf"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`        // absolute end, never after the token's
	Lang      string    `json:"lang,omitempty"` // the user's saved language, loaded at sign-in
	Flash     string    `json:"flash,omitempty"`
	FlashKind string    `json:"flash_kind,omitempty"`
}

// sessions keeps sessions in Redis. A session exists only after a
// successful sign-in, so anonymous requests never add entries.
type sessions struct {
	rdb    *redis.Client
	prefix string
	idle   time.Duration
}

var errNoSession = errors.New("no session")

func (s *sessions) key(id string) string {
	h := sha256.Sum256([]byte(id))
	return s.prefix + "session:" + hex.EncodeToString(h[:])
}

// create stores a new session under a fresh id.
func (s *sessions) create(ctx context.Context, sess *session) error {
	sess.id = randomToken(32)
	sess.CSRF = randomToken(32)
	return s.save(ctx, sess)
}

// save writes the session back, resetting the idle timer.
func (s *sessions) save(ctx context.Context, sess *session) error {
	b, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	ttl := min(s.idle, time.Until(sess.Expires))
	if ttl <= 0 {
		return errNoSession
	}
	return s.rdb.Set(ctx, s.key(sess.id), b, ttl).Err()
}

// load returns the session for id and extends its idle timer, or
// errNoSession when it is unknown, idle too long or past its end.
func (s *sessions) load(ctx context.Context, id string) (*session, error) {
	if len(id) != 43 {
		return nil, errNoSession
	}
	b, err := s.rdb.GetEx(ctx, s.key(id), s.idle).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	var sess session
	if err := json.Unmarshal(b, &sess); err != nil {
		return nil, errNoSession
	}
	sess.id = id
	if !time.Now().Before(sess.Expires) {
		_ = s.destroy(ctx, id)
		return nil, errNoSession
	}
	return &sess, nil
}

// destroy ends the session at once.
func (s *sessions) destroy(ctx context.Context, id string) error {
	return s.rdb.Del(ctx, s.key(id)).Err()
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
