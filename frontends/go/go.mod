module github.com/m365-mock/m365mock

go 1.23

require (
	github.com/AzureAD/microsoft-authentication-library-for-go v1.10.1
	github.com/emersion/go-imap/v2 v2.0.0-beta.8
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6
)

require (
	github.com/emersion/go-message v0.18.2 // indirect
	github.com/golang-jwt/jwt/v5 v5.2.2 // indirect
	github.com/google/uuid v1.3.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	golang.org/x/sync v0.10.0 // indirect
)
