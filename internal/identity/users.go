package identity

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// UserInput is what a caller may set on a user. Password is set only when
// SetPassword is true (an update that leaves it alone keeps it).
type UserInput struct {
	DomainID         string
	Name             string
	Email            string
	Description      string
	Enabled          bool
	DefaultProjectID string
	Password         string
	SetPassword      bool
}

func (in UserInput) check() error {
	if err := validate.Name("name", in.Name, 255); err != nil {
		return err
	}
	if err := checkEmail(in.Email); err != nil {
		return err
	}
	if err := validate.Text("description", in.Description, 1024); err != nil {
		return err
	}
	if in.SetPassword {
		return checkNewPassword(in.Password)
	}
	return nil
}

// hash hashes a new password under the gate, like a login.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	var h string
	var herr error
	if err := s.gate.do(ctx, func() { h, herr = hashPassword(pw) }); err != nil {
		return "", err
	}
	return h, herr
}

// Users lists users matching f (admin).
func (s *Service) Users(ctx context.Context, caller *model.Token, f store.UserFilter) ([]model.User, error) {
	if err := policy.Check(caller, policy.ListUsers, policy.Target{}); err != nil {
		return nil, err
	}
	return s.store.Users(ctx, f)
}

// User returns one user (admin, or the user themself; otherwise not found).
func (s *Service) User(ctx context.Context, caller *model.Token, id string) (model.User, error) {
	if !policy.Allowed(caller, policy.GetUser, policy.Target{UserID: id}) {
		if policy.Allowed(caller, policy.ListUsers, policy.Target{}) {
			return model.User{}, fault.ErrForbidden
		}
		return model.User{}, store.ErrNotFound
	}
	return s.store.User(ctx, id)
}

// CreateUser creates a user (admin).
func (s *Service) CreateUser(ctx context.Context, caller *model.Token, in UserInput) (model.User, error) {
	if err := policy.Check(caller, policy.CreateUser, policy.Target{}); err != nil {
		return model.User{}, err
	}
	if in.DomainID == "" {
		in.DomainID = model.DefaultDomainID
	}
	in.SetPassword = in.SetPassword || in.Password != ""
	if err := in.check(); err != nil {
		return model.User{}, err
	}
	if _, err := s.store.Domain(ctx, in.DomainID); err != nil {
		return model.User{}, domainRef(in.DomainID, err)
	}
	if in.DefaultProjectID != "" {
		if _, err := s.store.Project(ctx, in.DefaultProjectID); err != nil {
			return model.User{}, badRef("default_project_id", err)
		}
	}
	u := model.User{ID: NewID(), DomainID: in.DomainID, Name: in.Name, Email: in.Email,
		Description: in.Description, Enabled: in.Enabled, DefaultProjectID: in.DefaultProjectID}
	if in.SetPassword {
		h, err := s.hash(ctx, in.Password)
		if err != nil {
			return model.User{}, err
		}
		u.PasswordHash = h
	}
	return s.store.CreateUser(ctx, u)
}

// UpdateUser applies fn to the user and saves it (admin). Disabling a user
// or setting a password ends every token the user holds.
func (s *Service) UpdateUser(ctx context.Context, caller *model.Token, id string, fn func(*UserInput)) (model.User, error) {
	if err := policy.Check(caller, policy.UpdateUser, policy.Target{UserID: id}); err != nil {
		return model.User{}, err
	}
	cur, err := s.store.User(ctx, id)
	if err != nil {
		return model.User{}, err
	}
	in := UserInput{DomainID: cur.DomainID, Name: cur.Name, Email: cur.Email, Description: cur.Description,
		Enabled: cur.Enabled, DefaultProjectID: cur.DefaultProjectID}
	fn(&in)
	if err := in.check(); err != nil {
		return model.User{}, err
	}
	if in.DefaultProjectID != "" && in.DefaultProjectID != cur.DefaultProjectID {
		if _, err := s.store.Project(ctx, in.DefaultProjectID); err != nil {
			return model.User{}, badRef("default_project_id", err)
		}
	}
	var newHash string
	if in.SetPassword {
		if newHash, err = s.hash(ctx, in.Password); err != nil {
			return model.User{}, err
		}
	}
	endTokens := in.SetPassword || (cur.Enabled && !in.Enabled)
	cur.Name, cur.Email, cur.Description, cur.Enabled, cur.DefaultProjectID =
		in.Name, in.Email, in.Description, in.Enabled, in.DefaultProjectID
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.UpdateUser(ctx, cur); err != nil {
			return err
		}
		if in.SetPassword {
			if err := tx.SetPasswordHash(ctx, id, newHash); err != nil {
				return err
			}
		}
		if endTokens {
			return tx.RevokeTokensOf(ctx, id, "")
		}
		return nil
	})
	if err != nil {
		return model.User{}, err
	}
	if endTokens {
		s.revoked(ctx)
		s.closeConsoles(ctx, id, "", "")
	}
	return cur, nil
}

// ChangePassword lets a user change their own password, given the current
// one. Every token the user holds ends, the caller's included.
func (s *Service) ChangePassword(ctx context.Context, caller *model.Token, userID, original, password, clientAddr string) error {
	if err := policy.Check(caller, policy.ChangePassword, policy.Target{UserID: userID}); err != nil {
		return err
	}
	if err := checkNewPassword(password); err != nil {
		return err
	}
	u, err := s.checkPassword(ctx, PasswordLogin{User: UserRef{ID: userID}, Password: original, ClientAddr: clientAddr})
	if err != nil {
		return err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.SetPasswordHash(ctx, u.ID, h); err != nil {
			return err
		}
		return tx.RevokeTokensOf(ctx, u.ID, "")
	})
	if err != nil {
		return err
	}
	s.revoked(ctx)
	s.closeConsoles(ctx, u.ID, "", "")
	return nil
}

// DeleteUser deletes a user with their assignments and tokens (admin).
// Admins cannot delete themselves, which would lock the cloud out.
func (s *Service) DeleteUser(ctx context.Context, caller *model.Token, id string) error {
	if err := policy.Check(caller, policy.DeleteUser, policy.Target{UserID: id}); err != nil {
		return err
	}
	if id == caller.UserID {
		return fault.Conflict("you cannot delete your own user")
	}
	if err := s.store.DeleteUser(ctx, id); err != nil {
		return err
	}
	s.revoked(ctx)
	s.closeConsoles(ctx, id, "", "")
	return nil
}
