package identity

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func TestHashAndVerify(t *testing.T) {
	h, err := hashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash format: %s", h)
	}
	if !verifyPassword(h, "correct horse") {
		t.Error("right password refused")
	}
	if verifyPassword(h, "correct horsE") {
		t.Error("wrong password accepted")
	}
	for _, bad := range []string{"", "$argon2id$garbage", "$bcrypt$x$y$z$w"} {
		if verifyPassword(bad, "") {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
	h2, _ := hashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func TestGateRefusesExcessAtOnce(t *testing.T) {
	g := newGate(1, 1)
	release := make(chan struct{})
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.do(context.Background(), func() { close(started); <-release })
	}()
	<-started
	wg.Add(1)
	go func() { defer wg.Done(); g.do(context.Background(), func() {}) }() // waits
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	err := g.do(context.Background(), func() { t.Error("ran past the cap") })
	if !errors.Is(err, fault.ErrBusy) {
		t.Errorf("third caller: got %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("refusal took %v, want at once", d)
	}
	close(release)
	wg.Wait()
	if err := g.do(context.Background(), func() {}); err != nil {
		t.Errorf("after release: %v", err)
	}
}
