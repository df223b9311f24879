package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// httpBodyMax bounds how much of an answer's body httpCheck reads (and
// throws away) before it closes the connection.
const httpBodyMax = 64 << 10

// httpHeadMax bounds an answer's head: its status line and headers, and
// those of any 1xx interim answers before it. A server that sends header
// lines without end (or 1xx answers without end) fails the check here
// rather than at the deadline, having cost us at most this much reading.
const httpHeadMax = 64 << 10

// httpCheck is --health-http: one GET on a fresh connection, passed by a
// 2xx or 3xx status (a redirect is an answer and is not followed, as with
// Docker's curl -f). It is a small client of our own rather than net/http,
// which with its TLS stack is half of restart-run's binary and start-up;
// https:// is therefore not offered.
func httpCheck(ctx context.Context, u *url.URL) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", httpAddr(u))
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return httpGet(conn, u)
}

// httpGet sends the GET for u on conn and reads the answer. The request is
// HTTP/1.0 with Connection: close, but a server may still answer as
// HTTP/1.1 and keep the connection open, so the body is read by its
// Content-Length or chunks when it has them, else to the end, and never
// past httpBodyMax: the check ends when the answer does, not at the
// deadline. Interim 1xx answers (103 Early Hints, which Go's own server
// sends even to HTTP/1.0 clients) are skipped, as net/http does. The head
// is read within httpHeadMax, and of its headers only the two that say
// where the body ends are kept.
func httpGet(conn io.ReadWriter, u *url.URL) error {
	req := "GET " + u.RequestURI() + " HTTP/1.0\r\nHost: " + httpHost(u) + "\r\nUser-Agent: restart-run\r\nAccept: */*\r\nConnection: close\r\n"
	if u.User != nil {
		pass, _ := u.User.Password()
		req += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)) + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		return err
	}
	head := &httpHead{br: bufio.NewReaderSize(conn, 4096), left: httpHeadMax}
	var code int
	var hdr httpFields
	for code < 200 || code == 101 {
		line, err := head.line()
		if err != nil {
			return fmt.Errorf("reading the status line: %w", err)
		}
		if code, err = httpStatus(line); err != nil {
			return err
		}
		if hdr, err = head.fields(); err != nil {
			return err
		}
		if code == 101 {
			return fmt.Errorf("HTTP status %d", code) // no upgrade was asked for
		}
	}
	body := io.LimitReader(head.br, httpBodyMax)
	n, lenErr := strconv.ParseInt(hdr.contentLength, 10, 64)
	var err error
	switch {
	case strings.EqualFold(hdr.transferEncoding, "chunked"):
		err = skipChunks(bufio.NewReader(body))
	case lenErr == nil && n >= 0:
		_, err = io.CopyN(io.Discard, body, n)
	default:
		_, err = io.Copy(io.Discard, body)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the body: %w", err)
	}
	if code > 399 {
		return fmt.Errorf("HTTP status %d", code)
	}
	return nil
}

// errHeadTooBig fails a check whose answer head runs past httpHeadMax.
var errHeadTooBig = fmt.Errorf("answer head over %d KiB", httpHeadMax>>10)

// httpHead reads an answer's head line by line, every byte counted against
// what is left of its cap.
type httpHead struct {
	br   *bufio.Reader
	left int
}

// httpFields are the only headers httpGet uses: where the body ends.
type httpFields struct {
	contentLength, transferEncoding string
}

// line reads one line. A line longer than the reader's buffer (4 KiB)
// comes back cut to that much, the rest read and dropped within the cap:
// a long Set-Cookie or Content-Security-Policy is no reason to fail a
// check, and neither the status code nor the headers we use are that long.
// Nothing grows with the line: ReadSlice hands back its own buffer.
func (h *httpHead) line() ([]byte, error) {
	var cut []byte // the first 4 KiB of a line longer than the buffer
	for {
		b, err := h.br.ReadSlice('\n')
		if h.left -= len(b); h.left < 0 {
			return nil, errHeadTooBig
		}
		if err != bufio.ErrBufferFull {
			if cut != nil {
				return cut, err
			}
			return b, err
		}
		if cut == nil {
			cut = bytes.Clone(b) // the next ReadSlice overwrites b
		}
	}
}

// fields reads header lines up to the blank line that ends them and keeps
// Content-Length and Transfer-Encoding (the last of each, as a map would);
// the rest are only counted against the cap.
func (h *httpHead) fields() (httpFields, error) {
	var f httpFields
	for {
		line, err := h.line()
		if err != nil {
			return httpFields{}, fmt.Errorf("reading the headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return f, nil
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		switch k = bytes.TrimSpace(k); {
		case bytes.EqualFold(k, []byte("content-length")):
			f.contentLength = string(bytes.TrimSpace(v))
		case bytes.EqualFold(k, []byte("transfer-encoding")):
			f.transferEncoding = string(bytes.TrimSpace(v))
		}
	}
}

// skipChunks reads a chunked body to its last chunk and trailer.
func skipChunks(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		size, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			trailer := &httpHead{br: br, left: httpHeadMax} // within the body's cap too
			_, err := trailer.fields()
			return err
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

// httpHost is the Host header for u: its host and port, less the zone of
// an IPv6 address (http://[fe80::1%25eth0]:80/), which means nothing to
// the server.
func httpHost(u *url.URL) string {
	h := u.Host
	if i, j := strings.Index(h, "%"), strings.Index(h, "]"); strings.HasPrefix(h, "[") && i > 0 && j > i {
		h = h[:i] + h[j:]
	}
	return h
}

// httpAddr is the host and port to connect to for u (port 80 by default).
func httpAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// httpStatus reads the code from a status line such as "HTTP/1.1 200 OK".
func httpStatus(line []byte) (int, error) {
	proto, rest, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
	code, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/") || len(code) != 3 || err != nil || n < 100 {
		return 0, fmt.Errorf("not an HTTP answer: %q", line)
	}
	return n, nil
}
