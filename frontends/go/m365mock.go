// Package m365mock starts the mock-server binary (a fake Microsoft identity platform and
// fake Exchange Online IMAP, SMTP and POP3 servers speaking XOAUTH2) for Go tests.
//
//	func TestPoller(t *testing.T) {
//		srv := m365mock.Start(t) // stopped by t.Cleanup
//		pool := srv.CertPool()   // trust the server's CA
//		_ = srv.Authority("contoso.onmicrosoft.com")
//		_ = srv.IMAPSAddr()
//	}
//
// Every port is chosen by the system (port 0 on 127.0.0.1) and each server keeps its CA in
// a private temporary directory. The binary is the one given with [WithBinary], else the
// environment variable M365_MOCK_BIN, else mock-server on the PATH.
package m365mock

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv is the environment variable naming the mock-server binary.
const BinaryEnv = "M365_MOCK_BIN"

// BinaryName is the name looked up on the PATH.
const BinaryName = "mock-server"

// Option changes how [Start] runs the server.
type Option func(*config)

type config struct {
	binary       string
	args         []string
	startTimeout time.Duration
	getenv       func(string) string
}

// WithBinary runs this binary rather than looking for one.
func WithBinary(path string) Option { return func(c *config) { c.binary = path } }

// WithArgs adds command-line arguments, e.g. "--fixture", "tenant.json".
func WithArgs(args ...string) Option { return func(c *config) { c.args = append(c.args, args...) } }

// WithStartTimeout sets how long to wait for the ready file (default 30 s).
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// withGetenv replaces os.Getenv (for tests of the lookup).
func withGetenv(f func(string) string) Option { return func(c *config) { c.getenv = f } }

// Tenant is one tenant of the ready file.
type Tenant struct {
	ID        string   `json:"id"`
	Domains   []string `json:"domains"`
	Authority string   `json:"authority"`
}

// Ready is the server's ready file.
type Ready struct {
	HTTPSURL  string   `json:"https_url"`
	CAFile    string   `json:"ca_file"`
	Tenants   []Tenant `json:"tenants"`
	IMAPSAddr string   `json:"imaps_addr"`
	IMAPAddr  string   `json:"imap_addr"`
	SMTPAddr  string   `json:"smtp_addr"`
	POP3SAddr string   `json:"pop3s_addr"`
	POP3Addr  string   `json:"pop3_addr"`
}

// Entry is one journal entry: what happened and, for a refusal, why (Reason) and what an
// administrator would change (Fix).
type Entry struct {
	Seq      uint64         `json:"seq"`
	At       string         `json:"at"`
	Protocol string         `json:"protocol"` // https, imap, smtp, pop3, admin
	Request  string         `json:"request"`
	Summary  string         `json:"summary"`
	Outcome  string         `json:"outcome"` // issued, refused, authenticated, not_connected, ended, fault, admin, delivered
	Status   int            `json:"status"`
	Tenant   string         `json:"tenant"`
	ClientID string         `json:"client_id"`
	Error    string         `json:"error"`
	Reason   string         `json:"reason"`
	Fix      string         `json:"fix"`
	Details  map[string]any `json:"details"`
}

// AdminError is an admin request the server refused.
type AdminError struct {
	Verb    string
	Status  int
	Code    string // e.g. not_found
	Message string
}

func (e *AdminError) Error() string {
	return fmt.Sprintf("admin %s refused (HTTP %d, %s): %s", e.Verb, e.Status, e.Code, e.Message)
}

// Server is a running mock-server.
type Server struct {
	ready Ready
	cmd   *exec.Cmd
	dir   string
	pool  *x509.CertPool
	http  *http.Client
	done  chan struct{}
}

// Start runs the server and waits for its ready file; it fails the test (t.Fatal) with the
// reason when the binary is missing, exits or never gets ready. The server is stopped,
// and its directory deleted, by t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := start(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

func start(dir string, opts ...Option) (*Server, error) {
	c := config{startTimeout: 30 * time.Second, getenv: os.Getenv}
	for _, o := range opts {
		o(&c)
	}
	bin, err := locate(c)
	if err != nil {
		return nil, err
	}
	readyFile := filepath.Join(dir, "ready.json")
	logFile := filepath.Join(dir, "server.log")
	log, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("m365mock: %w", err)
	}
	defer log.Close()
	args := []string{
		"--https-port", "0", "--imaps-port", "0", "--imap-port", "0",
		"--smtp-port", "0", "--pop3s-port", "0", "--pop3-port", "0",
		"--ca-dir", filepath.Join(dir, "ca"),
		"--ready-file", readyFile,
	}
	cmd := exec.Command(bin, append(args, c.args...)...)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("m365mock: cannot run %s: %w", bin, err)
	}
	s := &Server{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()

	deadline := time.Now().Add(c.startTimeout)
	for {
		if b, err := os.ReadFile(readyFile); err == nil && json.Unmarshal(b, &s.ready) == nil {
			break
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("m365mock: %s exited with %v before writing its ready file; its output:\n%s",
				bin, cmd.ProcessState, tail(logFile))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("m365mock: %s wrote no ready file within %v; its output so far:\n%s",
				bin, c.startTimeout, tail(logFile))
		}
	}
	pem, err := os.ReadFile(s.ready.CAFile)
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("m365mock: reading the CA: %w", err)
	}
	s.pool = x509.NewCertPool()
	if !s.pool.AppendCertsFromPEM(pem) {
		s.stop()
		return nil, fmt.Errorf("m365mock: no certificate in %s", s.ready.CAFile)
	}
	s.http = s.HTTPClient()
	return s, nil
}

func locate(c config) (string, error) {
	if c.binary != "" {
		return checkExecutable(c.binary, "WithBinary")
	}
	var looked []string
	looked = append(looked, "the WithBinary option (not given)")
	if env := c.getenv(BinaryEnv); env != "" {
		return checkExecutable(env, "environment variable "+BinaryEnv)
	}
	looked = append(looked, "environment variable "+BinaryEnv+" (not set)")
	path := c.getenv("PATH")
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, BinaryName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	looked = append(looked, fmt.Sprintf("%s on the PATH (%s)", BinaryName, path))
	return "", fmt.Errorf("m365mock: mock-server binary not found; looked at: %s. Build it with "+
		"`cargo build -p mock-server` and set %s=/path/to/target/debug/mock-server (or pass m365mock.WithBinary)",
		strings.Join(looked, "; "), BinaryEnv)
}

func checkExecutable(p, source string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("m365mock: mock-server binary not found: %s names %s, which does not exist (or is not a file)", source, p)
	}
	if fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("m365mock: mock-server binary not executable: %s names %s", source, p)
	}
	return p, nil
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(no output)"
	}
	if len(b) > 4000 {
		b = append([]byte("…"), b[len(b)-4000:]...)
	}
	return string(b)
}

// stop sends SIGTERM, then kills after 10 s.
func (s *Server) stop() {
	if s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// ReadyInfo is the whole ready file.
func (s *Server) ReadyInfo() Ready { return s.ready }

// HTTPSURL is https://127.0.0.1:PORT: the identity platform and the admin API.
func (s *Server) HTTPSURL() string { return s.ready.HTTPSURL }

// CAFile is the PEM file of the server's CA.
func (s *Server) CAFile() string { return s.ready.CAFile }

// CertPool holds the server's CA (and nothing else).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// TLSConfig trusts the server's CA; for tls.Dial and imapclient.DialTLS.
func (s *Server) TLSConfig() *tls.Config { return &tls.Config{RootCAs: s.pool} }

// HTTPClient trusts the server's CA; for confidential.WithHTTPClient.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: s.TLSConfig()},
	}
}

// Authority is, without an argument, the first tenant's authority as the ready file gives
// it (https://127.0.0.1:PORT/<tenant id>; Contoso in the demo tenant); with one, the
// authority of the tenant with that domain or id, in that form
// (Authority("contoso.onmicrosoft.com") is https://127.0.0.1:PORT/contoso.onmicrosoft.com).
// It panics on an unknown tenant.
func (s *Server) Authority(tenant ...string) string {
	if len(tenant) == 0 {
		if len(s.ready.Tenants) == 0 {
			panic("m365mock: the ready file lists no tenants")
		}
		return s.ready.Tenants[0].Authority
	}
	for _, t := range s.ready.Tenants {
		if t.ID == tenant[0] {
			return s.ready.HTTPSURL + "/" + tenant[0]
		}
		for _, d := range t.Domains {
			if d == tenant[0] {
				return s.ready.HTTPSURL + "/" + tenant[0]
			}
		}
	}
	panic(fmt.Sprintf("m365mock: no tenant %s in the ready file", tenant[0]))
}

// IMAPSAddr is IMAP over implicit TLS (as outlook.office365.com:993).
func (s *Server) IMAPSAddr() string { return s.ready.IMAPSAddr }

// IMAPAddr is IMAP with STARTTLS (as outlook.office365.com:143).
func (s *Server) IMAPAddr() string { return s.ready.IMAPAddr }

// SMTPAddr is SMTP submission with STARTTLS (as smtp.office365.com:587).
func (s *Server) SMTPAddr() string { return s.ready.SMTPAddr }

// POP3SAddr is POP3 over implicit TLS (as outlook.office365.com:995).
func (s *Server) POP3SAddr() string { return s.ready.POP3SAddr }

// POP3Addr is POP3 with STLS (as outlook.office365.com:110).
func (s *Server) POP3Addr() string { return s.ready.POP3Addr }

// Admin calls an admin verb (mock-server admin --help lists them; parameters in
// snake_case, as in docs/runtime-control.md) and returns the server's JSON answer. get-*
// verbs are sent as GET ?name=value, others as a JSON POST. A refusal is an *AdminError.
func (s *Server) Admin(verb string, params map[string]any) (map[string]any, error) {
	u := s.ready.HTTPSURL + "/_mock/admin/" + verb
	var req *http.Request
	var err error
	if strings.HasPrefix(verb, "get-") {
		q := url.Values{}
		for k, v := range params {
			q.Set(k, fmt.Sprint(v))
		}
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		req, err = http.NewRequest(http.MethodGet, u, nil)
	} else {
		if params == nil {
			params = map[string]any{}
		}
		body, jerr := json.Marshal(params)
		if jerr != nil {
			return nil, fmt.Errorf("admin %s: %w", verb, jerr)
		}
		req, err = http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", verb, err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", verb, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", verb, err)
	}
	answer := map[string]any{}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &answer); err != nil {
			answer = map[string]any{"message": string(b)}
		}
	}
	if resp.StatusCode/100 != 2 {
		e := &AdminError{Verb: verb, Status: resp.StatusCode, Code: "error", Message: string(b)}
		if c, ok := answer["error"].(string); ok {
			e.Code = c
		}
		if m, ok := answer["message"].(string); ok {
			e.Message = m
		}
		return nil, e
	}
	return answer, nil
}

// AddMailboxPermission is Add-MailboxPermission -Identity identity -User user -AccessRights rights.
func (s *Server) AddMailboxPermission(identity, user, rights string) error {
	_, err := s.Admin("add-mailbox-permission", map[string]any{"identity": identity, "user": user, "access_rights": rights})
	return err
}

// RemoveMailboxPermission is Remove-MailboxPermission -Identity identity -User user -AccessRights rights.
func (s *Server) RemoveMailboxPermission(identity, user, rights string) error {
	_, err := s.Admin("remove-mailbox-permission", map[string]any{"identity": identity, "user": user, "access_rights": rights})
	return err
}

// AdvanceClock moves the server's clock forward, so tokens expire without sleeping.
func (s *Server) AdvanceClock(seconds int64) error {
	_, err := s.Admin("advance-clock", map[string]any{"seconds": seconds})
	return err
}

// Journal returns every journal entry, oldest first (all pages).
func (s *Server) Journal() ([]Entry, error) {
	var out []Entry
	var after uint64
	for {
		params := map[string]any{}
		if after > 0 {
			params["after"] = after
		}
		page, err := s.Admin("get-journal", params)
		if err != nil {
			return nil, err
		}
		raw, err := json.Marshal(page["entries"])
		if err != nil {
			return nil, err
		}
		var entries []Entry
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, fmt.Errorf("get-journal: %w", err)
		}
		if len(entries) == 0 {
			return out, nil
		}
		for _, e := range entries {
			out = append(out, e)
			if e.Seq > after {
				after = e.Seq
			}
		}
	}
}
