package controller_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestSlowHeadersCutOffUploadsNot: a client that sends its headers slowly
// (slowloris) is cut off after NIMBUS_READ_TIMEOUT; an image upload, whose
// body may take far longer, gets the upload timeout once its request line
// says what it is. The read timeout used to be the upload's hour for every
// request, headers included.
func TestSlowHeadersCutOffUploadsNot(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_READ_TIMEOUT": "1s"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(tc.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, conn) // ends when the server closes the connection
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("a request with unfinished headers held its connection %v, want about 1 s", d)
	}

	// An upload whose body pauses longer than the read timeout completes.
	admin := tc.AdminToken(t)
	id := tc.CreateImage(t, admin, map[string]any{"name": "slow", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(strings.Repeat("a", 4096)))
		time.Sleep(2500 * time.Millisecond)
		pw.Write([]byte(strings.Repeat("b", 4096)))
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", tc.URL+"/image/v2/images/"+id+"/file", pr)
	req.Header.Set("X-Auth-Token", admin)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 204 {
		t.Fatalf("slow upload: %d, want 204", res.StatusCode)
	}
}
