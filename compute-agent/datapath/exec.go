package datapath

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
)

// run runs a command inside the named network namespace ("" = the
// agent's own) and returns its standard output. The error names the
// command and carries its standard error.
func run(ctx context.Context, netns string, argv ...string) (string, error) {
	return runInput(ctx, netns, "", argv...)
}

// runInput is run with input on the command's standard input.
//
// ip and bridge switch namespace themselves (-n). Any other command is
// started from a thread moved into the namespace (inNetns), whose
// namespace the child inherits: `ip netns exec` would cost a second
// process and a mount namespace with /sys remounted, which nft does not
// need — most of an apply's time on a loaded host.
func runInput(ctx context.Context, netns, input string, argv ...string) (string, error) {
	inside := ""
	if netns != "" {
		if argv[0] == "ip" || argv[0] == "bridge" {
			argv = append([]string{argv[0], "-n", netns}, argv[1:]...)
		} else {
			inside = netns
		}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if input != "" {
		cmd.Stdin = strings.NewReader(input)
	}
	if err := inNetns(inside, cmd.Run); err != nil {
		where := ""
		if inside != "" {
			where = " (in netns " + inside + ")"
		}
		return "", fmt.Errorf("%s%s: %w: %s", strings.Join(argv, " "), where, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// ipJSON runs `ip -j args` in netns and decodes its output into v.
func ipJSON(ctx context.Context, netns string, v any, args ...string) error {
	out, err := run(ctx, netns, append([]string{"ip", "-j"}, args...)...)
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("ip -j %s: decode: %w", strings.Join(args, " "), err)
	}
	return nil
}

// link is what `ip -j -d link show` says of one interface.
type link struct {
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	MTU      int      `json:"mtu"`
	Master   string   `json:"master"`
	Address  string   `json:"address"`
	Parent   string   `json:"link"` // a VLAN's parent
	LinkInfo struct {
		Kind string `json:"info_kind"`
		Data struct {
			ID    int    `json:"id"`
			Local string `json:"local"`
			Port  int    `json:"port"`
		} `json:"info_data"`
	} `json:"linkinfo"`
}

func (l link) up() bool {
	for _, f := range l.Flags {
		if f == "UP" {
			return true
		}
	}
	return false
}

// links lists the interfaces of netns by name.
func links(ctx context.Context, netns string) (map[string]link, error) {
	var ls []link
	if err := ipJSON(ctx, netns, &ls, "-d", "link", "show"); err != nil {
		return nil, err
	}
	m := make(map[string]link, len(ls))
	for _, l := range ls {
		m[l.Name] = l
	}
	return m, nil
}

// addrInfo is one address of `ip -j addr show`.
type addrInfo struct {
	Family    string `json:"family"`
	Local     string `json:"local"`
	PrefixLen int    `json:"prefixlen"`
	Scope     string `json:"scope"`
}

// addresses lists dev's global addresses in netns as "ip/prefix".
func addresses(ctx context.Context, netns, dev string) ([]string, error) {
	var ifs []struct {
		Addrs []addrInfo `json:"addr_info"`
	}
	if err := ipJSON(ctx, netns, &ifs, "addr", "show", "dev", dev); err != nil {
		return nil, err
	}
	var out []string
	for _, i := range ifs {
		for _, a := range i.Addrs {
			if a.Scope == "link" || a.Scope == "host" {
				continue
			}
			out = append(out, fmt.Sprintf("%s/%d", a.Local, a.PrefixLen))
		}
	}
	return out, nil
}
