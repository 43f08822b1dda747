// Package api holds what every OpenStack API surface shares: request ids,
// token authentication, client addresses, and the mapping of domain errors
// to HTTP status codes. Each surface renders the body in its own shape.
package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// RequestIDHeader is the header OpenStack services answer with.
const RequestIDHeader = "X-Openstack-Request-Id"

type localKey int

const (
	keyRequestID localKey = iota
	keyToken
)

// RequestID gives every request an id, sent back in x-openstack-request-id
// and kept in the context for logs and action records.
func RequestID(c *fiber.Ctx) error {
	id := "req-" + uuid.NewString()
	c.Locals(keyRequestID, id)
	c.Set(RequestIDHeader, id)
	return c.Next()
}

// ReqID returns the request's id.
func ReqID(c *fiber.Ctx) string {
	id, _ := c.Locals(keyRequestID).(string)
	return id
}

// Param returns a route parameter copied out of fiber's buffer, which
// fiber reuses for the next request.
func Param(c *fiber.Ctx, name string) string { return strings.Clone(c.Params(name)) }

// SetToken stores the caller's validated token on the request.
func SetToken(c *fiber.Ctx, t *model.Token) { c.Locals(keyToken, t) }

// Token returns the caller's validated token, or nil.
func Token(c *fiber.Ctx) *model.Token {
	t, _ := c.Locals(keyToken).(*model.Token)
	return t
}

// Status maps an error to an HTTP status and its reason phrase. Errors
// that are not domain conditions are 500s.
func Status(err error) int {
	var v *fault.Validation
	var th *fault.Throttled
	var fe *fiber.Error
	var oq *fault.OverQuota
	switch {
	case errors.As(err, &v):
		return fiber.StatusBadRequest
	case errors.As(err, &th):
		return fiber.StatusTooManyRequests
	case errors.As(err, &oq):
		return fiber.StatusForbidden
	case errors.Is(err, fault.ErrTooLarge):
		return fiber.StatusRequestEntityTooLarge
	case errors.Is(err, fault.ErrUnauthorized):
		return fiber.StatusUnauthorized
	case errors.Is(err, fault.ErrForbidden):
		return fiber.StatusForbidden
	case errors.Is(err, fault.ErrNotFound):
		return fiber.StatusNotFound
	case errors.Is(err, fault.ErrConflict):
		return fiber.StatusConflict
	case errors.Is(err, fault.ErrBusy), fault.IsUnavailable(err):
		// IsUnavailable also catches what no store mapped: Redis refusing
		// or timing out, a request deadline running out.
		return fiber.StatusServiceUnavailable
	case errors.As(err, &fe):
		return fe.Code
	}
	return fiber.StatusInternalServerError
}

// RetryAfterUnavailable is the Retry-After of answers given while
// PostgreSQL or Redis cannot be reached, in seconds.
const RetryAfterUnavailable = 5

// Message returns what may be shown to the caller about err: the domain's
// own words for domain conditions, a fixed sentence for anything else, so
// that SQL, paths and stack traces never reach a client.
func Message(err error, status int) string {
	switch {
	case errors.Is(err, fault.ErrBusy):
	case status == fiber.StatusServiceUnavailable:
		// The cause (an address, a driver's words) is for the log only.
		return "The service is temporarily unavailable. Try again shortly."
	case status >= 500:
		return "An unexpected error prevented the server from fulfilling your request."
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}

// Prepare sets the headers an error answer needs (Retry-After) and logs
// server errors once, with the request id.
func Prepare(c *fiber.Ctx, log *slog.Logger, err error, status int) {
	var th *fault.Throttled
	if errors.As(err, &th) {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int(th.RetryAfter.Seconds()+0.999))))
	}
	switch {
	case errors.Is(err, fault.ErrBusy):
		c.Set(fiber.HeaderRetryAfter, "1")
	case status == fiber.StatusServiceUnavailable:
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(RetryAfterUnavailable))
	}
	if status >= 500 {
		log.Error("request failed", "request_id", ReqID(c), "method", c.Method(), "path", c.Path(), "error", err)
	}
}

// ClientAddr returns the caller's address. X-Forwarded-For is believed only
// when the connection comes from a trusted proxy; then the right-most
// address that is not itself a trusted proxy is the client.
func ClientAddr(c *fiber.Ctx, trusted []*net.IPNet) string {
	remote := net.ParseIP(c.Context().RemoteIP().String())
	if remote == nil || !inNets(remote, trusted) {
		return c.Context().RemoteIP().String()
	}
	xff := string(c.Request().Header.Peek(fiber.HeaderXForwardedFor))
	parts := strings.Split(xff, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		ip := net.ParseIP(strings.TrimSpace(parts[i]))
		if ip == nil {
			break
		}
		if !inNets(ip, trusted) {
			return ip.String()
		}
	}
	return remote.String()
}

func inNets(ip net.IP, nets []*net.IPNet) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Validator checks an API token.
type Validator interface {
	Validate(ctx context.Context, token string) (*model.Token, error)
}

// Authenticate validates X-Auth-Token and stores the token on the request.
func Authenticate(v Validator) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tok := c.Get("X-Auth-Token")
		if tok == "" {
			return fault.ErrUnauthorized
		}
		t, err := v.Validate(c.UserContext(), tok)
		if err != nil {
			return err
		}
		SetToken(c, t)
		return c.Next()
	}
}

// LimitBody refuses request bodies over limit with 413 before they are
// read into memory. The app streams request bodies (so image uploads are
// never buffered); every route but those skip names reads its body whole,
// which this bounds, chunked bodies included.
func LimitBody(limit int, skip func(c *fiber.Ctx) bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if skip(c) {
			return c.Next()
		}
		req := c.Request()
		if n := req.Header.ContentLength(); n > limit {
			refuse(c)
			return fault.ErrTooLarge
		}
		if rs := c.Context().RequestBodyStream(); rs != nil {
			b, err := io.ReadAll(io.LimitReader(rs, int64(limit)+1))
			if err != nil {
				return fiber.ErrBadRequest
			}
			if len(b) > limit {
				refuse(c)
				return fault.ErrTooLarge
			}
			req.SetBodyStream(nil, 0)
			req.SetBody(b)
		}
		return c.Next()
	}
}

// BodyReader returns the request body as a stream: the app streams
// request bodies, and fasthttp hands over a stream only for bodies larger
// than it reads ahead; smaller ones are already in memory.
func BodyReader(c *fiber.Ctx) io.Reader {
	if rs := c.Context().RequestBodyStream(); rs != nil {
		return rs
	}
	return bytes.NewReader(c.Body())
}

// SizedBody is BodyReader with the request's Content-Length (0 when it
// has none), for the upload progress pages show (image.Sized).
func SizedBody(c *fiber.Ctx) io.Reader {
	return image.Sized{Reader: BodyReader(c), Total: int64(max(c.Request().Header.ContentLength(), 0))}
}

// drainLimit is how much of a refused body is read and thrown away, so
// that a client still sending it sees the 413 rather than a reset.
const drainLimit = 8 << 20

// refuse closes the connection after the answer (the body is not read to
// its end) having drained a bounded amount of it.
func refuse(c *fiber.Ctx) {
	if rs := c.Context().RequestBodyStream(); rs != nil {
		_, _ = io.CopyN(io.Discard, rs, drainLimit)
	}
	c.Context().SetConnectionClose()
}

// WriteError renders err in the shape Keystone (and here Glance) use:
// {"error": {"code": 404, "title": "Not Found", "message": "..."}}.
func WriteError(c *fiber.Ctx, log *slog.Logger, err error) error {
	status := Status(err)
	Prepare(c, log, err, status)
	msg := Message(err, status)
	if status == fiber.StatusUnauthorized {
		// One sentence for every authentication failure: wrong password,
		// unknown user, disabled user and bad token look the same.
		msg = fault.ErrUnauthorized.Error() + "."
	}
	return c.Status(status).JSON(fiber.Map{"error": fiber.Map{
		"code": status, "title": Title(status), "message": msg,
	}})
}

// Title is the reason phrase of status.
func Title(status int) string {
	if t := utils.StatusMessage(status); t != "" {
		return t
	}
	return "Error"
}
