package datapath

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// MetadataProxy is where the metadata proxy in each DHCP namespace sends
// the instances' requests, as Neutron's metadata agent does for Nova.
type MetadataProxy struct {
	// Upstream is the metadata service's base URL; a request's path is
	// appended ("http://127.0.0.1:8080/metadata" + "/openstack/latest/...").
	Upstream string
	// Secret signs the instance id (Nova's metadata_proxy_shared_secret):
	// X-Instance-ID-Signature = hex(HMAC-SHA256(Secret, instance id)).
	Secret string
}

func (m *MetadataProxy) check() error {
	u, err := url.Parse(m.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("datapath: bad metadata upstream %q", m.Upstream)
	}
	return nil
}

// metadataServer is one network's proxy: a listener on
// 169.254.169.254:80 inside the network's DHCP namespace.
type metadataServer struct {
	networkID string
	netns     string
	nsID      [2]uint64 // the namespace's device and inode when we entered it
	srv       *http.Server
	done      chan struct{}

	mu   sync.RWMutex
	byIP map[netip.Addr]string // lease address -> instance id; guarded by mu
}

// ensureMetadata starts the network's proxy if missing (or if its
// namespace was made again since: a listener keeps the old one alive)
// and gives it the current leases.
func (d *Datapath) ensureMetadata(networkID, ns string, leases []netspec.Lease) error {
	byIP := map[netip.Addr]string{}
	for _, l := range leases {
		if a, err := netip.ParseAddr(l.IP); err == nil && l.InstanceID != "" {
			byIP[a.Unmap()] = l.InstanceID
		}
	}
	id, err := nsIdentity(ns)
	if err != nil {
		return err
	}
	if m := d.metadata[networkID]; m != nil {
		if m.nsID == id && m.alive() {
			m.mu.Lock()
			m.byIP = byIP
			m.mu.Unlock()
			return nil
		}
		d.stopMetadata(networkID)
	}
	m, err := d.startMetadata(networkID, ns, id, byIP)
	if err != nil {
		return fmt.Errorf("metadata proxy: %w", err)
	}
	d.metadata[networkID] = m
	d.log.Info("metadata proxy started", "network_id", networkID, "netns", ns)
	return nil
}

func (d *Datapath) startMetadata(networkID, ns string, id [2]uint64, byIP map[netip.Addr]string) (*metadataServer, error) {
	upstream, err := url.Parse(d.cfg.Metadata.Upstream)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	err = inNetns(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(metadataAddr, "80"))
		return err
	})
	if err != nil {
		return nil, err
	}
	m := &metadataServer{networkID: networkID, netns: ns, nsID: id, byIP: byIP, done: make(chan struct{})}
	m.srv = &http.Server{
		Handler:           m.handler(upstream, d.cfg.Metadata.Secret),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Warn("metadata proxy stopped", "network_id", networkID, "error", err)
		}
	}()
	return m, nil
}

// handler forwards a request from a leased address with the instance's
// identity; any other source gets 404.
func (m *metadataServer) handler(upstream *url.URL, secret string) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			src, _ := sourceAddr(pr.In)
			instance := m.instance(src)
			h := pr.Out.Header
			// Whatever the instance sent under these names is not trusted.
			for _, k := range []string{"X-Instance-ID", "X-Instance-ID-Signature", "X-Tenant-ID", "X-Neutron-Network-ID", "X-Neutron-Router-ID"} {
				h.Del(k)
			}
			h.Set("X-Instance-ID", instance)
			h.Set("X-Instance-ID-Signature", sign(secret, instance))
			h.Set("X-Forwarded-For", src.String())
			h.Set("X-Neutron-Network-ID", m.networkID)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src, ok := sourceAddr(r)
		if !ok || m.instance(src) == "" {
			http.NotFound(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

func (m *metadataServer) instance(a netip.Addr) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.byIP[a]
}

func (m *metadataServer) alive() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

func (m *metadataServer) close() error {
	err := m.srv.Close()
	<-m.done
	return err
}

// stopMetadata closes the network's proxy, if any.
func (d *Datapath) stopMetadata(networkID string) {
	if m := d.metadata[networkID]; m != nil {
		_ = m.close()
		delete(d.metadata, networkID)
		d.log.Info("metadata proxy stopped", "network_id", networkID)
	}
}

func sourceAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// sign is Nova's instance id signature.
func sign(secret, instanceID string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(instanceID))
	return hex.EncodeToString(mac.Sum(nil))
}

// nsIdentity is the named namespace's device and inode: a namespace
// deleted and made again under the same name is a different one.
func nsIdentity(name string) ([2]uint64, error) {
	fi, err := os.Stat(filepath.Join(netnsDir, name))
	if err != nil {
		return [2]uint64{}, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	return [2]uint64{st.Dev, st.Ino}, nil
}
