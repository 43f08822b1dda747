package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// tokenLen is the length of a token string: 32 random bytes, base64url.
const tokenLen = 43

// UserRef names a user by id, or by name within a domain given by id or name.
type UserRef struct {
	ID         string
	Name       string
	DomainID   string
	DomainName string
}

// Scope says what a new token is for. With nothing set, the token is
// scoped to the user's default project if they have one, else unscoped.
type Scope struct {
	ProjectID   string
	ProjectName string
	DomainID    string // of the project named ProjectName
	DomainName  string
	Unscoped    bool // "unscoped" asked for explicitly
}

// PasswordLogin is a password authentication attempt. ClientAddr is the
// caller's address for throttling (empty: not known).
type PasswordLogin struct {
	User       UserRef
	Password   string
	ClientAddr string
}

// IssueWithPassword checks a password and issues a token for scope. Unknown
// users, wrong passwords and disabled users all get fault.ErrUnauthorized
// after the same work.
func (s *Service) IssueWithPassword(ctx context.Context, in PasswordLogin, scope Scope) (string, *model.Token, error) {
	if err := errors.Join(in.User.check(), scope.check()); err != nil {
		return "", nil, err
	}
	u, err := s.checkPassword(ctx, in)
	if err != nil {
		return "", nil, err
	}
	return s.issue(ctx, u, []string{"password"}, scope, nil)
}

// IssueWithToken issues a token from an existing one (rescoping). The new
// token never outlives its parent and is revoked with it.
func (s *Service) IssueWithToken(ctx context.Context, parentToken string, scope Scope) (string, *model.Token, error) {
	if err := scope.check(); err != nil {
		return "", nil, err
	}
	parent, err := s.Validate(ctx, parentToken)
	if err != nil {
		return "", nil, err
	}
	u, err := s.store.User(ctx, parent.UserID)
	if err != nil {
		return "", nil, unauthorized(err)
	}
	methods := []string{"token"}
	for _, m := range parent.Methods {
		if !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	return s.issue(ctx, u, methods, scope, parent)
}

func (s *Service) checkPassword(ctx context.Context, in PasswordLogin) (model.User, error) {
	if len(in.Password) > MaxPasswordBytes {
		return model.User{}, fault.Invalid("password", "must be at most %d bytes", MaxPasswordBytes)
	}
	if in.Password == "" {
		return model.User{}, fault.ErrUnauthorized
	}
	u, lookupErr := s.lookupUser(ctx, in.User)
	if lookupErr != nil && !errors.Is(lookupErr, fault.ErrNotFound) {
		return model.User{}, lookupErr
	}
	domainKey := in.User.DomainID
	if domainKey == "" {
		domainKey = "name:" + in.User.DomainName
	}
	userKey := s.throttle.accountKey(u.ID, domainKey, in.User.Name)
	if lookupErr != nil && in.User.ID != "" {
		userKey = s.throttle.accountKey(in.User.ID, "", "")
	}
	end, err := s.throttle.take(ctx, userKey, in.ClientAddr)
	if err != nil {
		return model.User{}, err
	}
	hash := s.dummy
	if lookupErr == nil {
		hash = u.PasswordHash
	}
	var ok bool
	if err := s.gate.do(ctx, func() { ok = verifyPassword(hash, in.Password) }); err != nil {
		if eerr := end(context.WithoutCancel(ctx), notTried); eerr != nil {
			s.log.Warn("give back a login attempt's count", "error", eerr)
		}
		return model.User{}, err
	}
	if !ok || lookupErr != nil || !u.Enabled {
		return model.User{}, fault.ErrUnauthorized // the attempt stays counted
	}
	if err := end(ctx, succeeded); err != nil {
		s.log.Warn("reset failed-login count", "error", err)
	}
	return u, nil
}

// lookupUser resolves a UserRef; ErrNotFound when nothing matches.
func (s *Service) lookupUser(ctx context.Context, r UserRef) (model.User, error) {
	if r.ID != "" {
		return s.store.User(ctx, r.ID)
	}
	if r.Name == "" {
		return model.User{}, store.ErrNotFound
	}
	domainID := r.DomainID
	if domainID == "" {
		d, err := s.store.DomainByName(ctx, r.DomainName)
		if err != nil {
			return model.User{}, err
		}
		domainID = d.ID
	}
	return s.store.UserByName(ctx, domainID, r.Name)
}

// issue makes, stores and returns a token for u.
func (s *Service) issue(ctx context.Context, u model.User, methods []string, sc Scope, parent *model.Token) (string, *model.Token, error) {
	d, err := s.store.Domain(ctx, u.DomainID)
	if err != nil {
		return "", nil, unauthorized(err)
	}
	if !d.Enabled {
		return "", nil, fault.ErrUnauthorized
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	t := &model.Token{
		UserID: u.ID, UserName: u.Name, UserDomain: d,
		Methods: methods, IssuedAt: now, ExpiresAt: now.Add(s.ttl), AuditID: auditID(),
	}
	if parent != nil {
		if parent.ExpiresAt.Before(t.ExpiresAt) {
			t.ExpiresAt = parent.ExpiresAt
		}
		t.AuditChain = append([]string{parent.AuditID}, parent.AuditChain...)
	}
	p, err := s.resolveScope(ctx, u, sc)
	if err != nil {
		return "", nil, err
	}
	if p != nil {
		pd, err := s.store.Domain(ctx, p.DomainID)
		if err != nil && !errors.Is(err, fault.ErrNotFound) {
			return "", nil, err
		}
		if err != nil || !pd.Enabled || !p.Enabled {
			return "", nil, fmt.Errorf("project %s is disabled: %w", p.ID, fault.ErrUnauthorized)
		}
		roles, err := s.store.EffectiveRoles(ctx, u.ID, p.ID)
		if err != nil {
			return "", nil, err
		}
		if len(roles) == 0 {
			return "", nil, fmt.Errorf("user has no role on project %s: %w", p.ID, fault.ErrUnauthorized)
		}
		t.ProjectID, t.ProjectName, t.ProjDomain, t.Roles = p.ID, p.Name, pd, roles
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	str := base64.RawURLEncoding.EncodeToString(raw)
	t.Hash = hashToken(str)
	if err := s.store.InsertToken(ctx, t); err != nil {
		return "", nil, fmt.Errorf("store token: %w", err)
	}
	return str, t, nil
}

// resolveScope returns the project to scope to, or nil for unscoped.
func (s *Service) resolveScope(ctx context.Context, u model.User, sc Scope) (*model.Project, error) {
	var p model.Project
	var err error
	switch {
	case sc.Unscoped:
		return nil, nil
	case sc.ProjectID != "":
		p, err = s.store.Project(ctx, sc.ProjectID)
	case sc.ProjectName != "":
		domainID := sc.DomainID
		if domainID == "" {
			var d model.Domain
			d, err = s.store.DomainByName(ctx, sc.DomainName)
			domainID = d.ID
		}
		if err == nil {
			p, err = s.store.ProjectByName(ctx, domainID, sc.ProjectName)
		}
	case u.DefaultProjectID != "":
		p, err = s.store.Project(ctx, u.DefaultProjectID)
		if errors.Is(err, fault.ErrNotFound) {
			return nil, nil // a dangling default project gives an unscoped token
		}
		if err != nil {
			return nil, err
		}
		if roles, _ := s.store.EffectiveRoles(ctx, u.ID, p.ID); len(roles) == 0 {
			return nil, nil
		}
	default:
		return nil, nil
	}
	if err != nil {
		// Keystone answers 401 for a scope the user cannot have, existing or not.
		return nil, unauthorized(err)
	}
	return &p, nil
}

// Validate returns what a token says, or fault.ErrUnauthorized when it is
// malformed, unknown, expired or revoked, or its user, project or roles
// are gone.
func (s *Service) Validate(ctx context.Context, token string) (*model.Token, error) {
	if len(token) != tokenLen {
		return nil, fault.ErrUnauthorized
	}
	h := hashToken(token)
	key := string(h)
	now := s.now()
	if t := s.cache.get(key, now); t != nil {
		return t, nil
	}
	epoch := s.cache.epoch.Load()
	t, err := s.store.Token(ctx, h, now)
	if err != nil {
		return nil, unauthorized(err)
	}
	if t.ProjectID != "" {
		if t.Roles, err = s.store.EffectiveRoles(ctx, t.UserID, t.ProjectID); err != nil {
			return nil, err
		}
		if len(t.Roles) == 0 {
			return nil, fault.ErrUnauthorized
		}
	}
	s.cache.put(key, t, epoch)
	return t, nil
}

// ValidateSubject validates subject for caller (GET /v3/auth/tokens): a
// caller may check its own tokens, an admin anyone's. An invalid subject is
// fault.ErrNotFound, as Keystone answers 404.
func (s *Service) ValidateSubject(ctx context.Context, caller *model.Token, subject string) (*model.Token, error) {
	t, err := s.Validate(ctx, subject)
	if err != nil {
		if errors.Is(err, fault.ErrUnauthorized) {
			return nil, fault.NotFound("token")
		}
		return nil, err
	}
	if err := policy.Check(caller, policy.ValidateToken, policy.Target{UserID: t.UserID}); err != nil {
		return nil, err
	}
	return t, nil
}

// Revoke revokes subject and every token made from it.
func (s *Service) Revoke(ctx context.Context, caller *model.Token, subject string) error {
	t, err := s.ValidateSubject(ctx, caller, subject)
	if err != nil {
		return err
	}
	if err := policy.Check(caller, policy.RevokeToken, policy.Target{UserID: t.UserID}); err != nil {
		return err
	}
	if _, err := s.store.RevokeToken(ctx, t.AuditID); err != nil {
		return err
	}
	s.revoked(ctx)
	// Consoles opened with it or a token made from it: signing out of the
	// portal revokes the sign-in token, so its consoles close.
	s.closeConsoles(ctx, "", "", t.AuditID)
	return nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// auditID is 16 random bytes, base64url, as Keystone's audit ids are.
func auditID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// unauthorized turns a lookup miss into ErrUnauthorized, keeping other errors.
func unauthorized(err error) error {
	if errors.Is(err, fault.ErrNotFound) {
		return fault.ErrUnauthorized
	}
	return err
}
