package m365mock

import "github.com/emersion/go-sasl"

// XOAUTH2 is the SASL client Exchange Online takes for OAuth: one initial response,
// "user=" user "\x01auth=Bearer " token "\x01\x01". go-sasl has OAUTHBEARER but not
// XOAUTH2. On a refusal the server sends a JSON error as a challenge; the client answers
// it with an empty response, as the protocol asks, and the server then says NO.
func XOAUTH2(user, token string) sasl.Client {
	return &xoauth2{user: user, token: token}
}

type xoauth2 struct{ user, token string }

func (x *xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2) Next(challenge []byte) ([]byte, error) {
	return []byte{}, nil
}
