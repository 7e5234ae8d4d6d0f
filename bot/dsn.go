package bot

import (
	"regexp"
	"strings"
)

// redacted stands where a password was, as net/url's URL.Redacted writes
// it.
const redacted = "xxxxx"

// passwordParam is a password given as a parameter: password=… in a
// key=value DSN (quoted with '…', or up to the next space; a backslash
// escapes the next character in both) or in a URL's query (up to the
// next &). Any key ending in password matches: sslpassword unlocks the
// client key, so it is a secret too.
var passwordParam = regexp.MustCompile(`(?is)(password\s*=\s*)('(?:\\.?|[^'\\])*'?|(?:\\.?|[^&\s\\])*)`)

// RedactDSN returns a store DSN fit to print: the password of a URL's
// userinfo (postgres://user:xxxxx@host/db) and any password= parameter
// (key=value DSNs, URL queries) replaced by xxxxx. Everything that echoes
// a DSN — config errors, logs, store errors — goes through it, since the
// DSN is usually DATABASE_URL with the password inside.
//
// It works on the text, not on a parse: the DSNs that most need it are
// the ones that do not parse (a typo in the scheme, a password with an
// unescaped '/' or '@'), and a parser that gives up, or splits such a
// password into host and path, would hand it back whole. When in doubt it
// hides more than the password, never less.
func RedactDSN(dsn string) string {
	// An SQLite path has no userinfo; an '@' in it is part of the name.
	if !strings.HasPrefix(dsn, "sqlite:") {
		// The userinfo ends at the last '@' (a password may hold an
		// unescaped '@' or '/'; a host never holds '@') and starts after
		// the scheme's "//", or at the start when there is none
		// ("postgres:/u:p@h" then loses its user too, not its password).
		if at := strings.LastIndexByte(dsn, '@'); at >= 0 {
			start := 0
			if i := strings.Index(dsn[:at], "//"); i >= 0 {
				start = i + 2
			}
			if colon := strings.IndexByte(dsn[start:at], ':'); colon >= 0 {
				dsn = dsn[:start+colon+1] + redacted + dsn[at:]
			}
		}
	}
	return passwordParam.ReplaceAllString(dsn, "${1}"+redacted)
}
