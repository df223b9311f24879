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
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHTTPCheck: the built-in GET against real servers on 127.0.0.1: what
// passes, what fails, and what it sends.
func TestHTTPCheck(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, "ok")
		case "/big": // more than httpBodyMax, which must not hang or fail
			w.Write(bytes.Repeat([]byte("x"), 3*httpBodyMax))
		case "/moved":
			http.Redirect(w, r, "/gone", http.StatusFound) // passes: not followed
		case "/error":
			http.Error(w, "down", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	check := func(raw string) error {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return httpCheck(ctx, u)
	}
	for _, tc := range []struct {
		path string
		want string // "" for a pass, else part of the error
	}{
		{"/ok", ""},
		{"/big", ""},
		{"/moved", ""},
		{"/error", "HTTP status 500"},
		{"/gone", "HTTP status 404"},
	} {
		err := check(srv.URL + tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want a pass", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.path, err, tc.want)
		}
	}
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	if n != 5 {
		t.Fatalf("the server saw %d requests, want 5 (a redirect is not followed)", n)
	}

	// What the request carries: the path and query, the Host with its
	// port, and credentials from the URL.
	u, _ := url.Parse(srv.URL)
	if err := check("http://user:secret@" + u.Host + "/ok?x=1&y=%20"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	r := seen[len(seen)-1]
	mu.Unlock()
	user, pass, _ := r.BasicAuth()
	if r.Method != "GET" || r.URL.RequestURI() != "/ok?x=1&y=%20" || r.Host != u.Host || user != "user" || pass != "secret" {
		t.Errorf("request: %s %s Host %q, basic auth %q:%q; want GET /ok?x=1&y=%%20, Host %q, user:secret", r.Method, r.URL.RequestURI(), r.Host, user, pass, u.Host)
	}
}

// TestHTTPCheckBadServers: a server that answers nonsense, closes at once, or
// never answers fails the check, the last one at the check's deadline. The
// others fail on what they send, long before their deadline, which is only
// there to stop a stuck check: a short one could pass before a loaded
// machine has run the server, and the check would fail with a timeout
// instead. The silent server's deadline is short: a timeout is its result.
func TestHTTPCheckBadServers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		serve  func(net.Conn)
		within time.Duration
		want   string
	}{
		{"nonsense", func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH\r\n")) }, deadline, "not an HTTP answer"},
		{"status word", func(c net.Conn) { c.Write([]byte("HTTP/1.1 abc OK\r\n\r\n")) }, deadline, "not an HTTP answer"},
		{"closed", func(net.Conn) {}, deadline, "status line"},
		{"silent", func(c net.Conn) { io.Copy(io.Discard, c) }, 300 * time.Millisecond, "timeout"}, // reads until the client gives up
		{"endless headers", func(c net.Conn) { writeEndless(c, "HTTP/1.1 200 OK\r\n", headerLine) }, deadline, "answer head over 64 KiB"},
	} {
		_, err := checkWithin(oneConn(t, tc.serve), tc.within)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestHTTPCheckAnswers: answers that real servers give to our HTTP/1.0 GET.
// A server that keeps the connection open after a complete answer (with a
// Content-Length, or chunked) must pass at once, not at the deadline (where
// the supervisor's own timeout would count it a failure); 1xx interim answers
// are skipped; a body that stalls fails at the deadline. A check that waited
// for the server to close would fail with a timeout at its deadline, so a
// pass is a pass at once: the deadline of one that must pass is long, for a
// loaded machine, and how long it took is not measured.
func TestHTTPCheckAnswers(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	for _, tc := range []struct {
		name   string
		answer string
		pass   bool
	}{
		{"kept open, Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
		{"kept open, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\n\r\n", true},
		{"kept open, 503", "HTTP/1.1 503 Busy\r\ncontent-length: 4\r\n\r\nbusy", false},
		{"100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", true},
		{"stalled body", "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\npart", false},
		// A line over the reader's 4 KiB buffer is skipped, not an error.
		{"8 KiB Set-Cookie", "HTTP/1.1 200 OK\r\nSet-Cookie: a=" + strings.Repeat("x", 8<<10) + "\r\nContent-Length: 2\r\n\r\nok", true},
		{"60 KiB head", "HTTP/1.1 200 OK\r\n" + manyHeaders(60<<10) + "Content-Length: 2\r\n\r\nok", true},
	} {
		u := oneConn(t, func(c net.Conn) {
			if readHead(c, nil) != nil {
				return
			}
			c.Write([]byte(tc.answer))
			<-hold // never closes first
		})
		within := 2 * time.Second
		if tc.pass {
			within = deadline
		}
		took, err := checkWithin(u, within)
		if tc.pass && err != nil {
			t.Errorf("%s: %v after %v, want a pass at once", tc.name, err, took)
		}
		if !tc.pass && err == nil {
			t.Errorf("%s: passed, want a failure", tc.name)
		}
	}

	// Go's own server sends 103 Early Hints even to an HTTP/1.0 client.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Connection"), "close") {
			http.Error(w, "no Connection: close", 400)
			return
		}
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/")
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := httpCheck(ctx, u); err != nil {
		t.Errorf("103 Early Hints, then 200: %v, want a pass", err)
	}
}

// TestHTTPCheckHeadCap: an answer head without end (distinct header lines,
// one line that never ends, 1xx answers) fails the check once httpHeadMax
// has been read: not at the deadline, and not after reading megabytes.
// What the client read is counted on its side of a real connection.
func TestHTTPCheckHeadCap(t *testing.T) {
	for _, tc := range []struct {
		name, first string
		next        func(i int) string
	}{
		{"endless header lines", "HTTP/1.1 200 OK\r\n", headerLine},
		{"one endless line", "HTTP/1.1 200 OK\r\nX-Long: ", func(int) string { return strings.Repeat("y", 1000) }},
		{"endless 1xx answers", "", func(i int) string {
			return fmt.Sprintf("HTTP/1.1 103 Early Hints\r\nLink: </%d.css>; rel=preload\r\n\r\n", i)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			served := make(chan string, 1)
			u := oneConn(t, func(c net.Conn) { served <- writeEndless(c, tc.first, tc.next) })
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			// Only to fail a stuck test: the check must end well before.
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			cc := &countingConn{Conn: conn}
			err = httpGet(cc, u)
			conn.Close()
			if !errors.Is(err, errHeadTooBig) || !strings.Contains(err.Error(), "answer head over 64 KiB") {
				t.Errorf("error %v, want %q", err, errHeadTooBig)
			}
			// The cap trips within one 4 KiB ReadSlice past it, and the
			// reader may hold one 4 KiB buffer more.
			if cc.read <= httpHeadMax || cc.read > httpHeadMax+8<<10 {
				t.Errorf("the client read %d bytes, want a little over %d", cc.read, httpHeadMax)
			}
			select {
			case s := <-served:
				t.Logf("the client read %d bytes; the server: %s", cc.read, s)
			case <-time.After(5 * time.Second):
				t.Fatalf("the server did not see the client close the connection")
			}
		})
	}
}

// writeEndless writes first, then next(0), next(1), ... until a write
// fails (the client has gone), or a gigabyte; it says how much it wrote
// and how it ended.
func writeEndless(c net.Conn, first string, next func(i int) string) string {
	n, err := io.WriteString(c, first)
	for i := 0; err == nil && n < 1<<30; i++ {
		var k int
		k, err = io.WriteString(c, next(i))
		n += k
	}
	return fmt.Sprintf("wrote %d bytes, then %v", n, err)
}

// headerLine is the i-th of an endless run of distinct header lines.
func headerLine(i int) string { return fmt.Sprintf("X-%d: %s\r\n", i, strings.Repeat("v", 40)) }

// manyHeaders is distinct header lines, about size bytes of them.
func manyHeaders(size int) string {
	var b strings.Builder
	for i := 0; b.Len() < size-100; i++ {
		b.WriteString(headerLine(i))
	}
	return b.String()
}

// countingConn counts what is read through it.
type countingConn struct {
	net.Conn
	read int
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read += n
	return n, err
}

// errReadPast is what an in-memory connection kept open answers to a read
// past the end of the answer: where a server that keeps the connection
// open would leave the check waiting for its deadline.
var errReadPast = errors.New("read past the end of the answer")

// memConn is one exchange on a connection in memory: the request lands in
// sent; reads get the answer, then EOF when the server closes, or
// errReadPast when it keeps the connection open.
type memConn struct {
	io.Reader
	sent bytes.Buffer
}

func (c *memConn) Write(b []byte) (int, error) { return c.sent.Write(b) }

func newMemConn(answer string, closes bool) *memConn {
	end := io.Reader(errorReader{errReadPast})
	if closes {
		end = strings.NewReader("")
	}
	return &memConn{Reader: io.MultiReader(strings.NewReader(answer), end)}
}

type errorReader struct{ err error }

func (r errorReader) Read([]byte) (int, error) { return 0, r.err }

// TestHTTPGet: httpGet on answers held in memory, so that each case is
// exact and takes no time: which statuses pass, how the head is read and
// capped, and that the body is read to where the answer says it ends and
// no further (a read past it fails the case).
func TestHTTPGet(t *testing.T) {
	// head is an answer head of exactly n bytes.
	head := func(n int) string {
		h := "HTTP/1.1 200 OK\r\nX-Pad: "
		return h + strings.Repeat("p", n-len(h)-len("\r\n\r\n")) + "\r\n\r\n"
	}
	for _, tc := range []struct {
		name   string
		answer string
		closes bool   // the server closes the connection after the answer
		want   string // "" for a pass, else part of the error
	}{
		{"200 with Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, ""},
		{"Content-Length in any case, spaced", "HTTP/1.1 200 OK\r\ncontent-LENGTH :  2 \r\n\r\nok", false, ""},
		{"Content-Length: 0", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false, ""},
		{"the last Content-Length counts", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Length: 2\r\n\r\nok", false, ""},
		{"no length: read to the close", "HTTP/1.0 200 OK\r\n\r\nall of it", true, ""},
		{"no length, kept open: read on", "HTTP/1.0 200 OK\r\n\r\nall of it", false, "reading the body: " + errReadPast.Error()},
		{"negative length: read to the close", "HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\nx", true, ""},
		{"bad length: read to the close", "HTTP/1.0 200 OK\r\nContent-Length: two\r\n\r\nxx", true, ""},
		{"body shorter than its length, closed", "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\npart", true, ""},
		{"3xx passes", "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", false, ""},
		{"399 passes", "HTTP/1.1 399 Odd\r\nContent-Length: 0\r\n\r\n", false, ""},
		{"400 fails", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", false, "HTTP status 400"},
		{"503 fails, its body read", "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", false, "HTTP status 503"},
		{"100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, ""},
		{"103 and 199 then 500", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nContent-Length: 7\r\n\r\n" +
			"HTTP/1.1 199 X\r\n\r\nHTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", false, "HTTP status 500"},
		{"101 was not asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, "HTTP status 101"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", false, ""},
		{"chunked, extensions and a trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 99\r\n\r\n" +
			"2;x=y\r\nok\r\nA;z\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n", false, ""},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", false, `bad chunk size "zz\r\n"`},
		{"bad chunk size after a good chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n\r\n", false, `bad chunk size "zz\r\n"`},
		{"a blank line for a chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n\r\n0\r\n\r\n", false, `bad chunk size "\r\n"`},
		{"negative chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nok\r\n0\r\n\r\n", false, "bad chunk size"},
		{"chunk shorter than its size, kept open", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nok", false, errReadPast.Error()},
		{"status line over 4 KiB", "HTTP/1.1 200 " + strings.Repeat("o", 5000) + "\r\nContent-Length: 0\r\n\r\n", false, ""},
		// What follows the first 4 KiB of a line is dropped, not read as a header.
		{"header over 4 KiB hides no header", "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", 4096-len("X-Pad: ")) +
			"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", false, ""},
		{"a header line without a colon", "HTTP/1.1 200 OK\r\nnonsense\r\nContent-Length: 0\r\n\r\n", false, ""},
		{"head of exactly the cap", head(httpHeadMax), true, ""},
		{"head a byte over the cap", head(httpHeadMax + 1), true, "answer head over 64 KiB"},
		{"no status line", "", true, "reading the status line: EOF"},
		{"head cut short", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", true, "reading the headers: EOF"},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n", true, "not an HTTP answer"},
	} {
		u, _ := url.Parse("http://user:p%40ss@example.test:8080/health?full=1")
		c := newMemConn(tc.answer, tc.closes)
		// These take microseconds; the limit is for a reader that loops
		// (a read error not acted on), which would hang the test.
		done := make(chan error, 1)
		go func() { done <- httpGet(c, u) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: httpGet still reading after 5s of an answer in memory", tc.name)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want a pass", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
		auth := base64.StdEncoding.EncodeToString([]byte("user:p@ss"))
		want := "GET /health?full=1 HTTP/1.0\r\nHost: example.test:8080\r\nUser-Agent: restart-run\r\nAccept: */*\r\n" +
			"Connection: close\r\nAuthorization: Basic " + auth + "\r\n\r\n"
		if c.sent.String() != want {
			t.Errorf("%s: sent %q, want %q", tc.name, c.sent.String(), want)
		}
	}
}

// TestHTTPStatus: the status line must be HTTP/, a space, three digits
// from 100 up, then a space and a reason or nothing.
func TestHTTPStatus(t *testing.T) {
	for line, want := range map[string]int{
		"HTTP/1.1 200 OK\r\n":       200,
		"HTTP/1.0 404\r\n":          404,
		"HTTP/1.1 100 Continue\n":   100,
		"HTTP/2 999 Whatever it is": 999,
		"HTTP/1.1 503 Busy now\r\n": 503,
	} {
		if got, err := httpStatus([]byte(line)); err != nil || got != want {
			t.Errorf("httpStatus(%q) = %d, %v; want %d", line, got, err, want)
		}
	}
	for _, line := range []string{"", "HTTP/1.1", "HTTP/1.1 ", "HTTP/1.1 099 Low", "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK",
		"HTTP/1.1 2x0 OK", "HTTP/1.1 -20 OK", "HTTP/1.1  200 OK", "HTTPS/1.1 200 OK", "ICY 200 OK", "http/1.1 200 OK"} {
		if got, err := httpStatus([]byte(line)); err == nil || !strings.Contains(err.Error(), "not an HTTP answer") {
			t.Errorf("httpStatus(%q) = %d, %v; want not an HTTP answer", line, got, err)
		}
	}
}

func TestHTTPHost(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:8080/x":      "127.0.0.1:8080",
		"http://example.test/":         "example.test",
		"http://[::1]:8080/":           "[::1]:8080",
		"http://[fe80::1%25lo]:8080/x": "[fe80::1]:8080",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := httpHost(u); got != want {
			t.Errorf("%s: Host %q, want %q", raw, got, want)
		}
	}
}

// oneConn listens on 127.0.0.1, hands the first connection to serve, and
// returns the URL that reaches it; the listener closes when the test ends.
// readHead reads a request's head from c, to the blank line, handing each
// line (the blank one too) to each when it is not nil.
func readHead(c net.Conn, each func(line string)) error {
	br := bufio.NewReader(c)
	for l := ""; l != "\r\n"; {
		var err error
		if l, err = br.ReadString('\n'); err != nil {
			return err
		}
		if each != nil {
			each(l)
		}
	}
	return nil
}

func oneConn(t *testing.T, serve func(net.Conn)) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}()
	u, _ := url.Parse("http://" + ln.Addr().String() + "/")
	return u
}

// checkWithin runs the HTTP check of u with deadline d, and says how long
// it took.
func checkWithin(u *url.URL, d time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	t0 := time.Now()
	err := httpCheck(ctx, u)
	return time.Since(t0), err
}
