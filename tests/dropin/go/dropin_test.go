// Package dropin is the Go part of the drop-in proof: unmodified MSAL for Go, azidentity
// and go-imap v2 reach `mock-server --real-hosts` under Microsoft's own names and ports.
//
// Nothing here names the mock. Every client keeps its defaults: MSAL's authority
// https://login.microsoftonline.com/<tenant> with instance discovery on, azidentity's
// default authority host, and Go's system certificate pool (crypto/x509 reads
// /etc/ssl/certs/ca-certificates.crt). tests/dropin/run.sh runs this inside a private
// mount namespace where /etc/hosts maps Microsoft's names to this machine and the CA
// bundle also holds the mock's CA; outside it every test skips, so `go test ./...` never
// talks to Microsoft.
package dropin

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

const (
	tenant    = "contoso.onmicrosoft.com"
	authority = "https://login.microsoftonline.com/" + tenant // MSAL's default cloud
	scope     = "https://outlook.office365.com/.default"
	imapAddr  = "outlook.office365.com:993" // Exchange Online's IMAP host and port
	user      = "test.user@contoso.com"

	pollerID     = "00000000-0000-4000-8000-00000000a001" // demo app 01, all correct
	pollerSecret = "poller-secret-value"
	wrongOIDID   = "00000000-0000-4000-8000-00000000a002" // demo app 02, wrong object id
	wrongOIDPass = "wrong-oid-secret"
)

// The demo mailbox test.user@contoso.com, in order (fixtures/mail/test.user).
var demoSubjects = []string{"Test Mail", "Test 2 Process", "How are you?", "My Mail"}

func inside(t *testing.T) {
	t.Helper()
	if os.Getenv("MOCK_DROPIN_INSIDE") != "1" {
		t.Skip("run by tests/dropin/run.sh inside its private mount namespace only")
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// claims decodes a JWT's payload (no check: the server's own tests verify signatures).
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return c
}

// xoauth2 is the SASL client Exchange Online takes: one initial response
// "user=" user "\x01auth=Bearer " token "\x01\x01". On a refusal the server sends a JSON
// error as a challenge and the client answers it with an empty response; the server
// then says NO.
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }

var _ sasl.Client = xoauth2{}

func msalToken(t *testing.T, clientID string, cred confidential.Credential) string {
	t.Helper()
	app, err := confidential.New(authority, clientID, cred)
	if err != nil {
		t.Fatalf("confidential.New: %v", err)
	}
	r, err := app.AcquireTokenByCredential(ctx(t), []string{scope})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	return r.AccessToken
}

func secretToken(t *testing.T, clientID, secret string) string {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return msalToken(t, clientID, cred)
}

// envelopes signs in to outlook.office365.com:993 with XOAUTH2, selects INBOX and
// fetches every message's envelope.
func envelopes(token string) (uint32, []*imap.Envelope, error) {
	c, err := imapclient.DialTLS(imapAddr, nil)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	if err := c.Authenticate(xoauth2{user, token}); err != nil {
		return 0, nil, err
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return 0, nil, err
	}
	if sel.NumMessages == 0 {
		return 0, nil, errors.New("INBOX is empty")
	}
	msgs, err := c.Fetch(imap.SeqSetNum(seqRange(sel.NumMessages)...), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		return 0, nil, err
	}
	envs := make([]*imap.Envelope, 0, len(msgs))
	for _, m := range msgs {
		envs = append(envs, m.Envelope)
	}
	if err := c.Logout().Wait(); err != nil {
		return 0, nil, err
	}
	return sel.NumMessages, envs, nil
}

func seqRange(n uint32) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = uint32(i) + 1
	}
	return s
}

// assertDemoInbox: the demo messages first, in order (another part of the proof may
// have delivered more after them), and one envelope per message.
func assertDemoInbox(t *testing.T, token string) {
	t.Helper()
	n, envs, err := envelopes(token)
	if err != nil {
		t.Fatalf("IMAP %s: %v", imapAddr, err)
	}
	if int(n) != len(envs) || n < uint32(len(demoSubjects)) {
		t.Fatalf("INBOX: %d messages, %d envelopes; want at least %d", n, len(envs), len(demoSubjects))
	}
	for i, want := range demoSubjects {
		if envs[i] == nil || envs[i].Subject != want {
			t.Errorf("message %d: envelope %+v, want subject %q", i+1, envs[i], want)
		}
	}
	if len(envs[0].From) == 0 || envs[0].From[0].Addr() == "" {
		t.Errorf("message 1 has no From address: %+v", envs[0])
	}
}

func TestMSALClientSecretThenIMAPEnvelopes(t *testing.T) {
	inside(t)
	token := secretToken(t, pollerID, pollerSecret)
	c := claims(t, token)
	if c["aud"] != "https://outlook.office365.com" || c["appid"] != pollerID {
		t.Fatalf("token claims aud %v appid %v", c["aud"], c["appid"])
	}
	assertDemoInbox(t, token)
}

// pollerPEM is demo app 01's key and certificate (fixtures/certs/mail-poller.*).
func pollerPEM(t *testing.T) []byte {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "fixtures", "certs")
	var pem []byte
	for _, f := range []string{"mail-poller.key", "mail-poller.crt"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	return pem
}

func TestMSALClientCertificate(t *testing.T) {
	inside(t)
	certs, key, err := confidential.CertFromPEM(pollerPEM(t), "")
	if err != nil {
		t.Fatalf("CertFromPEM: %v", err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatalf("NewCredFromCert: %v", err)
	}
	token := msalToken(t, pollerID, cred)
	if c := claims(t, token); c["appid"] != pollerID {
		t.Fatalf("token appid %v", c["appid"])
	}
	assertDemoInbox(t, token)
}

func TestAzidentityClientSecretCredentialThenIMAP(t *testing.T) {
	inside(t)
	cred, err := azidentity.NewClientSecretCredential(tenant, pollerID, pollerSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if c := claims(t, tok.Token); c["appid"] != pollerID {
		t.Fatalf("token appid %v", c["appid"])
	}
	assertDemoInbox(t, tok.Token)
}

func TestAzidentityClientCertificateCredential(t *testing.T) {
	inside(t)
	certs, key, err := azidentity.ParseCertificates(pollerPEM(t), nil)
	if err != nil {
		t.Fatalf("ParseCertificates: %v", err)
	}
	cred, err := azidentity.NewClientCertificateCredential(tenant, pollerID, certs, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if c := claims(t, tok.Token); c["appid"] != pollerID {
		t.Fatalf("token appid %v", c["appid"])
	}
}

// Demo app 02 gets a token (its secret is right) but Exchange refuses it: its service
// principal was registered with the application's object id.
func TestWrongObjectIDAppIsRefusedByIMAP(t *testing.T) {
	inside(t)
	token := secretToken(t, wrongOIDID, wrongOIDPass)
	_, _, err := envelopes(token)
	var imapErr *imap.Error
	if !errors.As(err, &imapErr) {
		t.Fatalf("IMAP error = %v, want an *imap.Error", err)
	}
	if imapErr.Type != imap.StatusResponseTypeNo || imapErr.Text != "AUTHENTICATE failed." {
		t.Fatalf("IMAP said %q %q, want NO AUTHENTICATE failed.", imapErr.Type, imapErr.Text)
	}
}

func TestTheNamesResolveHereOnlyInsideTheNamespace(t *testing.T) {
	inside(t)
	addrs, err := net.LookupHost("login.microsoftonline.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a != "127.0.0.1" && a != "::1" {
			t.Errorf("login.microsoftonline.com resolves to %s", a)
		}
	}
}

// The hosts block maps Microsoft's names to 127.0.0.1 and ::1, and Go's dialer tries ::1
// first (RFC 6724 order): both must answer TLS under the name, with the system roots.
// Only a machine that cannot listen on ::1 at all is let off the ::1 half.
func TestBothLoopbackAddressesServeTheNames(t *testing.T) {
	inside(t)
	ipv6 := true
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		ipv6 = false
		t.Logf("no IPv6 loopback here (%v): ::1 is not checked", err)
	} else {
		l.Close()
	}
	for _, hostPort := range []string{"outlook.office365.com:993", "login.microsoftonline.com:443"} {
		host, port, err := net.SplitHostPort(hostPort)
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := net.LookupHost(host)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if a == "::1" && !ipv6 {
				continue
			}
			conn, err := tls.Dial("tcp", net.JoinHostPort(a, port), &tls.Config{ServerName: host})
			if err != nil {
				t.Errorf("%s at %s: %v", hostPort, a, err)
				continue
			}
			conn.Close()
		}
		conn, err := net.Dial("tcp", hostPort)
		if err != nil {
			t.Fatalf("%s: %v", hostPort, err)
		}
		t.Logf("%s: Go's dialer reached %s (resolved to %v)", hostPort, conn.RemoteAddr(), addrs)
		conn.Close()
	}
}
