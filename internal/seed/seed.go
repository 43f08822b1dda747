// Package seed prepares a new cloud at its first start: the Default domain,
// the admin/member/reader roles, the admin and demo projects and users,
// Nova's default flavors and quotas. It also keeps the generated passwords
// and the openrc files in the data directory.
package seed

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Version names the seed set; a database that recorded it is left alone.
const Version = "1"

// Flavors are the flavors Nova has always shipped by default.
var Flavors = []model.Flavor{
	{ID: "1", Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1},
	{ID: "2", Name: "m1.small", VCPUs: 1, RAMMB: 2048, DiskGB: 20},
	{ID: "3", Name: "m1.medium", VCPUs: 2, RAMMB: 4096, DiskGB: 40},
	{ID: "4", Name: "m1.large", VCPUs: 4, RAMMB: 8192, DiskGB: 80},
	{ID: "5", Name: "m1.xlarge", VCPUs: 8, RAMMB: 16384, DiskGB: 160},
}

// QuotaDefaults are Nova's default quotas, plus Glance's image count.
var QuotaDefaults = map[string]int{
	"instances":            10,
	"cores":                20,
	"ram":                  51200,
	"key_pairs":            100,
	"metadata_items":       128,
	"server_groups":        10,
	"server_group_members": 10,
	"images":               100,
	// Shown and settable through the compute API up to microversion 2.35
	// (the network ones) or 2.56 (injected files), as Nova does; nothing
	// here uses them.
	"injected_files":              5,
	"injected_file_content_bytes": 10240,
	"injected_file_path_bytes":    255,
	"security_groups":             10,
	"security_group_rules":        20,
	"floating_ips":                10,
	"fixed_ips":                   -1,
}

// Credentials are the passwords of the seeded users.
type Credentials struct {
	AdminPassword string
	DemoPassword  string
}

// Passwords returns the admin and demo passwords, creating them in dataDir
// at first use: the admin one from adminPassword when given, otherwise
// random. The files are readable by their owner only.
func Passwords(dataDir, adminPassword string) (Credentials, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return Credentials{}, err
	}
	admin, err := keep(filepath.Join(dataDir, "admin-password"), adminPassword)
	if err != nil {
		return Credentials{}, err
	}
	demo, err := keep(filepath.Join(dataDir, "demo-password"), "")
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{AdminPassword: admin, DemoPassword: demo}, nil
}

// keep returns the content of path, writing want (or a random password)
// there first if the file does not exist.
func keep(path, want string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if want == "" {
		raw := make([]byte, 15)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		want = base64.RawURLEncoding.EncodeToString(raw)
	}
	if err := os.WriteFile(path, []byte(want+"\n"), 0o600); err != nil {
		return "", err
	}
	return want, nil
}

// Apply seeds the database once; later calls see the recorded version and
// do nothing. It reports whether it seeded.
func Apply(ctx context.Context, st *store.Store, cred Credentials) (bool, error) {
	seeded := false
	err := st.Tx(ctx, func(tx *store.Store) error {
		// The settings row doubles as the lock: a second controller
		// starting at the same moment waits here, then sees it done.
		v, err := tx.SettingOrCreate(ctx, "seed_version", "")
		if err != nil {
			return err
		}
		// Every start: quota resources added after a cloud was seeded get
		// their default (an existing default is never changed).
		for r, n := range QuotaDefaults {
			if err := tx.SetQuotaDefault(ctx, r, n); err != nil {
				return fmt.Errorf("quota default %s: %w", r, err)
			}
		}
		if v != "" {
			return nil
		}
		if err := seedIdentity(ctx, tx, cred); err != nil {
			return err
		}
		for _, f := range Flavors {
			f.RXTXFactor, f.IsPublic = 1, true
			if err := tx.CreateFlavor(ctx, f); err != nil {
				return fmt.Errorf("flavor %s: %w", f.Name, err)
			}
		}
		seeded = true
		return tx.SetSetting(ctx, "seed_version", Version)
	})
	return seeded, err
}

func seedIdentity(ctx context.Context, tx *store.Store, cred Credentials) error {
	if err := tx.CreateDomain(ctx, model.Domain{ID: model.DefaultDomainID, Name: "Default",
		Description: "The default domain", Enabled: true}); err != nil {
		return fmt.Errorf("domain: %w", err)
	}
	roles := map[string]string{}
	for _, name := range []string{model.RoleAdmin, model.RoleMember, model.RoleReader} {
		id := identity.NewID()
		if err := tx.CreateRole(ctx, model.Role{ID: id, Name: name}); err != nil {
			return fmt.Errorf("role %s: %w", name, err)
		}
		roles[name] = id
	}
	if err := tx.ImplyRole(ctx, roles[model.RoleAdmin], roles[model.RoleMember]); err != nil {
		return err
	}
	if err := tx.ImplyRole(ctx, roles[model.RoleMember], roles[model.RoleReader]); err != nil {
		return err
	}
	for _, u := range []struct{ project, user, password, role string }{
		{"admin", "admin", cred.AdminPassword, model.RoleAdmin},
		{"demo", "demo", cred.DemoPassword, model.RoleMember},
	} {
		p, err := tx.CreateProject(ctx, model.Project{ID: identity.NewID(), DomainID: model.DefaultDomainID,
			Name: u.project, Description: "Bootstrap project " + u.project, Enabled: true})
		if err != nil {
			return fmt.Errorf("project %s: %w", u.project, err)
		}
		hash, err := identity.HashPassword(u.password)
		if err != nil {
			return fmt.Errorf("password of %s: %w", u.user, err)
		}
		usr, err := tx.CreateUser(ctx, model.User{ID: identity.NewID(), DomainID: model.DefaultDomainID,
			Name: u.user, Enabled: true, DefaultProjectID: p.ID, PasswordHash: hash})
		if err != nil {
			return fmt.Errorf("user %s: %w", u.user, err)
		}
		if err := tx.Grant(ctx, usr.ID, p.ID, roles[u.role]); err != nil {
			return err
		}
	}
	return nil
}

// RCParams names what an openrc script exports.
type RCParams struct {
	AuthURL     string // the Identity v3 URL
	Region      string
	ProjectID   string
	ProjectName string
	UserName    string
	Password    string // empty: the script asks for it
}

// RC returns an openrc script in the form Horizon's "OpenStack RC File"
// (Identity API v3) has: project id and name with the project's domain id,
// the user's domain name, region and interface, and the v2.0 variables
// unset. Clients that scope by id alone (gophercloud's AuthOptionsFromEnv
// does not read OS_PROJECT_DOMAIN_NAME) need OS_PROJECT_ID. With a
// password it is embedded; without one the script asks for it, as
// Horizon's download does.
func RC(p RCParams) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/usr/bin/env bash\n# OpenStack credentials for %s in project %s, written by Nimbus.\n", shq(p.UserName), shq(p.ProjectName))
	b.WriteString("# Source it: `source <file>`, then use the openstack CLI or any OpenStack SDK.\n")
	fmt.Fprintf(&b, "export OS_AUTH_URL=%s\n", shq(p.AuthURL))
	fmt.Fprintf(&b, "export OS_PROJECT_ID=%s\n", shq(p.ProjectID))
	fmt.Fprintf(&b, "export OS_PROJECT_NAME=%s\n", shq(p.ProjectName))
	b.WriteString("export OS_USER_DOMAIN_NAME='Default'\n")
	fmt.Fprintf(&b, "export OS_PROJECT_DOMAIN_ID=%s\n", shq(model.DefaultDomainID))
	b.WriteString("# v2.0 variables left over from another file would take precedence.\nunset OS_TENANT_ID\nunset OS_TENANT_NAME\n")
	fmt.Fprintf(&b, "export OS_USERNAME=%s\n", shq(p.UserName))
	if p.Password != "" {
		fmt.Fprintf(&b, "export OS_PASSWORD=%s\n", shq(p.Password))
	} else {
		b.WriteString("echo \"Please enter your OpenStack Password for project $OS_PROJECT_NAME as user $OS_USERNAME: \"\n")
		b.WriteString("read -sr OS_PASSWORD_INPUT\nexport OS_PASSWORD=$OS_PASSWORD_INPUT\n")
	}
	fmt.Fprintf(&b, "export OS_REGION_NAME=%s\n", shq(p.Region))
	b.WriteString("if [ -z \"$OS_REGION_NAME\" ]; then unset OS_REGION_NAME; fi\n")
	b.WriteString("export OS_INTERFACE=public\nexport OS_IDENTITY_API_VERSION=3\nexport OS_AUTH_TYPE=password\n")
	return b.String()
}

// WriteRCFiles writes admin-openrc.sh and demo-openrc.sh into dataDir,
// each naming its seeded project by id and name.
func WriteRCFiles(ctx context.Context, st *store.Store, dataDir, authURL, region string, cred Credentials) error {
	for _, f := range []struct{ name, user, pw string }{
		{"admin-openrc.sh", "admin", cred.AdminPassword},
		{"demo-openrc.sh", "demo", cred.DemoPassword},
	} {
		p, err := st.ProjectByName(ctx, model.DefaultDomainID, f.user)
		if err != nil {
			return fmt.Errorf("project %s: %w", f.user, err)
		}
		rc := RC(RCParams{AuthURL: authURL, Region: region, ProjectID: p.ID, ProjectName: p.Name, UserName: f.user, Password: f.pw})
		if err := os.WriteFile(filepath.Join(dataDir, f.name), []byte(rc), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
