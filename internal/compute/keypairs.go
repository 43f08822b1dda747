package compute

import (
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// keypairNameRe is Nova's rule before microversion 2.92.
var keypairNameRe = regexp.MustCompile(`^[a-zA-Z0-9 _-]{1,255}$`)

// KeyPairInput creates a key pair: with PublicKey it is imported, without
// one a new key is generated and its private half returned once.
type KeyPairInput struct {
	Name      string
	PublicKey string
	Type      string // ssh (x509 is refused)
	UserID    string // admins may act for another user
}

// keyOwner is the user whose key pairs the caller acts on.
func keyOwner(caller *model.Token, userID string) (string, error) {
	if userID == "" || userID == caller.UserID {
		return caller.UserID, policy.Check(caller, policy.ManageKeypairs, policy.Target{UserID: caller.UserID})
	}
	return userID, policy.Check(caller, policy.ManageOthersKeys, policy.Target{UserID: userID})
}

// CreateKeyPair imports or generates a key pair. The private key, when
// generated, is returned here and never stored.
func (s *Service) CreateKeyPair(ctx context.Context, caller *model.Token, in KeyPairInput) (model.KeyPair, string, error) {
	owner, err := keyOwner(caller, in.UserID)
	if err != nil {
		return model.KeyPair{}, "", err
	}
	if !keypairNameRe.MatchString(in.Name) || strings.TrimSpace(in.Name) == "" {
		return model.KeyPair{}, "", fault.Invalid("name", "Keypair name must be 1 to 255 characters of letters, digits, spaces, '_' and '-'.")
	}
	if in.Type == "" {
		in.Type = "ssh"
	}
	if in.Type != "ssh" {
		return model.KeyPair{}, "", fault.Invalid("type", "only ssh key pairs are supported")
	}
	var private string
	if in.PublicKey == "" {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return model.KeyPair{}, "", err
		}
		block, err := ssh.MarshalPrivateKey(priv, in.Name)
		if err != nil {
			return model.KeyPair{}, "", err
		}
		private = string(pem.EncodeToMemory(block))
		sp, _ := ssh.NewPublicKey(pub)
		in.PublicKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " Generated-by-Nimbus"
	}
	if err := validate.Text("public_key", in.PublicKey, 16384); err != nil {
		return model.KeyPair{}, "", fault.Invalid("public_key", "Keypair data is invalid: %v", err)
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(in.PublicKey))
	if err != nil {
		return model.KeyPair{}, "", fault.Invalid("public_key", "Keypair data is invalid: failed to parse the public key")
	}
	k := model.KeyPair{UserID: owner, Name: in.Name, Type: in.Type, PublicKey: strings.TrimSpace(in.PublicKey),
		Fingerprint: fingerprint(pk)}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.LockUser(ctx, owner); err != nil {
			return err
		}
		limits, err := tx.QuotaLimits(ctx, caller.ProjectID)
		if err != nil {
			return err
		}
		n, err := tx.CountKeyPairs(ctx, owner)
		if err != nil {
			return err
		}
		if limit, ok := limits["key_pairs"]; ok && limit >= 0 && n+1 > limit {
			return &fault.OverQuota{Resource: "key_pairs", Limit: limit, Used: n, Requested: 1}
		}
		k, err = tx.CreateKeyPair(ctx, k)
		if errors.Is(err, fault.ErrConflict) {
			return fault.Conflict("Key pair '%s' already exists.", in.Name)
		}
		return err
	})
	if err != nil {
		return model.KeyPair{}, "", err
	}
	return k, private, nil
}

// KeyPairs lists the owner's key pairs.
func (s *Service) KeyPairs(ctx context.Context, caller *model.Token, userID string) ([]model.KeyPair, error) {
	owner, err := keyOwner(caller, userID)
	if err != nil {
		return nil, err
	}
	return s.store.KeyPairs(ctx, owner)
}

// KeyPair returns one of the owner's key pairs.
func (s *Service) KeyPair(ctx context.Context, caller *model.Token, name, userID string) (model.KeyPair, error) {
	owner, err := keyOwner(caller, userID)
	if err != nil {
		return model.KeyPair{}, err
	}
	k, err := s.store.KeyPair(ctx, owner, name)
	if err != nil {
		return model.KeyPair{}, fault.NotFoundAs(err, fault.NotFound("Keypair %s not found for user %s", name, owner))
	}
	return k, nil
}

// DeleteKeyPair removes one of the owner's key pairs.
func (s *Service) DeleteKeyPair(ctx context.Context, caller *model.Token, name, userID string) error {
	owner, err := keyOwner(caller, userID)
	if err != nil {
		return err
	}
	if err := s.store.DeleteKeyPair(ctx, owner, name); err != nil {
		return fault.NotFoundAs(err, fault.NotFound("Keypair %s not found for user %s", name, owner))
	}
	return nil
}

// fingerprint is the MD5 fingerprint Nova shows ("aa:bb:...").
func fingerprint(pk ssh.PublicKey) string {
	sum := md5.Sum(pk.Marshal())
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":")
}
