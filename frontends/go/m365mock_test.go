package m365mock

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/emersion/go-imap/v2/imapclient"
)

// The demo tenant (README.md).
const (
	pollerClientID  = "00000000-0000-4000-8000-00000000a001"
	pollerSecret    = "poller-secret-value"
	pollerSPObject  = "00000000-0000-4000-8000-00000000c001"
	wrongOIDClient  = "00000000-0000-4000-8000-00000000a002"
	wrongOIDSecret  = "wrong-oid-secret"
	mailbox         = "test.user@contoso.com"
	outlookScope    = "https://outlook.office365.com/.default"
	contosoDomain   = "contoso.onmicrosoft.com"
	contosoTenantID = "c0ffee00-1111-4222-8333-444455556666"
)

// msalToken asks MSAL for Go for a client-credentials token, trusting only the mock's CA.
func msalToken(t *testing.T, srv *Server, clientID, secret string) string {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(srv.Authority(contosoDomain), clientID, cred,
		confidential.WithHTTPClient(srv.HTTPClient()),
		// MSAL would otherwise ask login.microsoftonline.com about the 127.0.0.1 host.
		confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByCredential(context.Background(), []string{outlookScope})
	if err != nil {
		t.Fatalf("MSAL: %v", err)
	}
	return res.AccessToken
}

// httpToken asks for a token with a plain form POST, as curl would.
func httpToken(t *testing.T, srv *Server, clientID, secret string) string {
	t.Helper()
	resp, err := srv.HTTPClient().PostForm(srv.Authority(contosoDomain)+"/oauth2/v2.0/token", url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {secret},
		"scope":         {outlookScope},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("token request refused: HTTP %d %s", resp.StatusCode, body.Error)
	}
	return body.AccessToken
}

// inboxCount signs in over IMAPS with XOAUTH2 and selects INBOX.
func inboxCount(srv *Server, user, token string) (uint32, error) {
	c, err := imapclient.DialTLS(srv.IMAPSAddr(), &imapclient.Options{TLSConfig: srv.TLSConfig()})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.Authenticate(XOAUTH2(user, token)); err != nil {
		return 0, err
	}
	data, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return 0, err
	}
	return data.NumMessages, nil
}

func lastWithOutcome(t *testing.T, srv *Server, outcome string) Entry {
	t.Helper()
	journal, err := srv.Journal()
	if err != nil {
		t.Fatal(err)
	}
	for i := len(journal) - 1; i >= 0; i-- {
		if journal[i].Outcome == outcome {
			return journal[i]
		}
	}
	t.Fatalf("no %s entry in the journal (%d entries)", outcome, len(journal))
	return Entry{}
}

func TestReadyFile(t *testing.T) {
	srv := Start(t)
	if !strings.HasPrefix(srv.HTTPSURL(), "https://127.0.0.1:") {
		t.Errorf("HTTPSURL = %q", srv.HTTPSURL())
	}
	if got, want := srv.Authority(), srv.HTTPSURL()+"/"+contosoTenantID; got != want {
		t.Errorf("Authority() = %q, want %q", got, want)
	}
	if got, want := srv.Authority(contosoDomain), srv.HTTPSURL()+"/"+contosoDomain; got != want {
		t.Errorf("Authority(%q) = %q, want %q", contosoDomain, got, want)
	}
	for name, addr := range map[string]string{"IMAPS": srv.IMAPSAddr(), "IMAP": srv.IMAPAddr(),
		"SMTP": srv.SMTPAddr(), "POP3S": srv.POP3SAddr(), "POP3": srv.POP3Addr()} {
		if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
			t.Errorf("%s address = %q", name, addr)
		}
	}
	if _, err := os.Stat(srv.CAFile()); err != nil {
		t.Errorf("CA file: %v", err)
	}
}

func TestMSALTokenThenIMAPInbox(t *testing.T) {
	srv := Start(t)
	token := msalToken(t, srv, pollerClientID, pollerSecret)
	if strings.Count(token, ".") != 2 {
		t.Fatalf("not a JWT (%d dots)", strings.Count(token, "."))
	}
	n, err := inboxCount(srv, mailbox, token)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("INBOX has %d messages, want 4", n)
	}
	if e := lastWithOutcome(t, srv, "authenticated"); e.Protocol != "imap" {
		t.Errorf("authenticated entry from %q", e.Protocol)
	}
}

func TestRemovedMailboxPermissionIsNotConnected(t *testing.T) {
	srv := Start(t)
	token := httpToken(t, srv, pollerClientID, pollerSecret)
	if n, err := inboxCount(srv, mailbox, token); err != nil || n != 4 {
		t.Fatalf("before the change: %d messages, %v", n, err)
	}
	if err := srv.RemoveMailboxPermission(mailbox, pollerSPObject, "FullAccess"); err != nil {
		t.Fatal(err)
	}
	_, err := inboxCount(srv, mailbox, token)
	if err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("after Remove-MailboxPermission the client saw %v, want \"not connected\"", err)
	}
	e := lastWithOutcome(t, srv, "not_connected")
	if e.Protocol != "imap" || e.Reason == "" || !strings.Contains(e.Fix, "Add-MailboxPermission") {
		t.Errorf("journal entry: protocol %q reason %q fix %q", e.Protocol, e.Reason, e.Fix)
	}
}

func TestWrongObjectIDFailsAuthentication(t *testing.T) {
	srv := Start(t)
	token := httpToken(t, srv, wrongOIDClient, wrongOIDSecret)
	_, err := inboxCount(srv, mailbox, token)
	if err == nil || !strings.Contains(err.Error(), "AUTHENTICATE failed") {
		t.Fatalf("client saw %v, want AUTHENTICATE failed", err)
	}
	e := lastWithOutcome(t, srv, "refused")
	if !strings.Contains(e.Reason, "00000000-0000-4000-8000-00000000b002") || !strings.Contains(e.Fix, "New-ServicePrincipal") {
		t.Errorf("journal entry: reason %q fix %q", e.Reason, e.Fix)
	}
}

func TestAdvanceClockExpiresTheToken(t *testing.T) {
	srv := Start(t)
	token := httpToken(t, srv, pollerClientID, pollerSecret)
	if err := srv.AdvanceClock(2 * 3600); err != nil {
		t.Fatal(err)
	}
	if _, err := inboxCount(srv, mailbox, token); err == nil {
		t.Fatal("an expired token still opened the mailbox")
	}
	e := lastWithOutcome(t, srv, "refused")
	if !strings.Contains(strings.ToLower(e.Reason+" "+e.Fix), "expire") {
		t.Errorf("journal entry: reason %q fix %q", e.Reason, e.Fix)
	}
}

func TestAdminRefusal(t *testing.T) {
	srv := Start(t)
	err := srv.AddMailboxPermission("nobody@contoso.com", pollerSPObject, "FullAccess")
	var ae *AdminError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || !strings.Contains(ae.Message, "nobody@contoso.com") {
		t.Fatalf("got %v, want a 404 naming the mailbox", err)
	}
}

func TestMissingBinaryNamesEveryPlace(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PATH": dir}
	_, err := start(t.TempDir(), withGetenv(func(k string) string { return env[k] }))
	if err == nil {
		t.Fatal("started without a binary")
	}
	for _, want := range []string{"WithBinary", "environment variable M365_MOCK_BIN", "mock-server on the PATH (" + dir + ")", "cargo build -p mock-server"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestEnvNamingNothing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-mock-server")
	_, err := start(t.TempDir(), withGetenv(func(k string) string {
		if k == BinaryEnv {
			return missing
		}
		return ""
	}))
	if err == nil || !strings.Contains(err.Error(), "environment variable M365_MOCK_BIN names "+missing) {
		t.Fatalf("got %v", err)
	}
}

func TestBrokenBinaryReportsItsOutput(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "fake-mock-server")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'error: no such fixture' >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := start(t.TempDir(), WithBinary(fake))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "error: no such fixture") {
		t.Fatalf("got %v", err)
	}
}

func TestHungBinaryTimesOut(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "fake-mock-server")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'starting' >&2\nexec sleep 60\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := start(t.TempDir(), WithBinary(fake), WithStartTimeout(500*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "wrote no ready file within 500ms") || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("got %v", err)
	}
}
